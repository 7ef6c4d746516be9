package crm

import (
	"context"
	"testing"
)

// The parse + map + envelope cost of one delivery, without the network.

func BenchmarkAmoCRMStatus(b *testing.B) {
	body := fixture(b, "amocrm/status_won.txt")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req, err := ParseAmoCRM(body, rub)
		if err != nil || len(req.Items) != 1 {
			b.Fatal(err)
		}
		changes, _ := ResolveAmoCRM(context.Background(), req, nil, rub, body)
		e := Envelope(testPrincipal, changes[0], received)
		if e.Validate() != nil {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkBitrix24Deal(b *testing.B) {
	body := formFixture(b, "bitrix24/event_deal_update.form")
	api := bitrixFromFile{"crm.deal.get 1234": bitrixResult(b, "bitrix24/deal_won.json")}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		ev, err := ParseBitrix24(body)
		if err != nil {
			b.Fatal(err)
		}
		ch, err := ResolveBitrix24(context.Background(), ev, api, rub)
		if err != nil {
			b.Fatal(err)
		}
		if e := Envelope(testPrincipal, ch, received); e.Validate() != nil {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkGeneric(b *testing.B) {
	body := fixture(b, "generic/changes.json")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		changes, err := ParseGeneric(body, rub)
		if err != nil || len(changes) != 3 {
			b.Fatal(err)
		}
		for _, ch := range changes {
			if e := Envelope(testPrincipal, ch, received); e.Validate() != nil {
				b.Fatal("invalid")
			}
		}
	}
}
