package crm

import (
	"errors"
	"reflect"
	"testing"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
)

func TestGenericDocumentedChanges(t *testing.T) {
	s := Settings{Currency: "RUB", LostStages: []string{"closed-lost"}}
	changes, err := ParseGeneric(fixture(t, "generic/changes.json"), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 {
		t.Fatalf("%d changes", len(changes))
	}
	lead := changes[0].CRM
	if lead.Entity != "lead" || lead.Action != "add" || lead.LeadID != "L-100" || lead.ContactID != "501" || lead.Outcome != "open" ||
		!reflect.DeepEqual(lead.Phones, []string{"+79161234567"}) || !reflect.DeepEqual(lead.Emails, []string{"ivan@example.ru"}) ||
		lead.UpdatedAt != ms("2026-11-01T06:00:00Z") || lead.ClientID != "cid-1.1793000000" {
		t.Fatalf("lead %+v", lead)
	}
	deal := changes[1].CRM
	if deal.Outcome != "won" || deal.Amount != 1_500_050 || deal.Currency != "RUB" || deal.CallID != "ct-1" || deal.UpdatedAt != 1_793_520_000_000 || deal.Action != "status" ||
		deal.Units != 2 {
		t.Fatalf("deal %+v", deal)
	}
	lost := changes[2].CRM
	if lost.Outcome != "lost" || lost.Amount != 500 || lost.UpdatedAt != 1_793_520_000_000 || lost.Action != "update" || lost.Units != 3 {
		t.Fatalf("lost %+v", lost)
	}
	one, err := ParseGeneric([]byte(`{"entity":"contact","contact_id":"c1","phone":"9161234567","updated_at":"2026-11-01T00:00:00Z"}`), s)
	if err != nil || len(one) != 1 || one[0].Phones[0] != "+79161234567" {
		t.Fatalf("single object: %+v %v", one, err)
	}
	arr, err := ParseGeneric([]byte(`[{"entity":"deal","deal_id":1,"updated_at":1793520000000},{"entity":"deal","deal_id":1,"updated_at":1793520000000}]`), s)
	if err != nil || len(arr) != 2 {
		t.Fatal(err)
	}
	p := tenants.Principal{Tenant: "acme", Account: "moscow"}
	if Envelope(p, arr[0], received).ID != Envelope(p, arr[1], received.Add(5e9)).ID {
		t.Fatal("a duplicate change must get the same id")
	}
	if Envelope(p, arr[0], received).ID == Envelope(tenants.Principal{Tenant: "acme", Account: "spb"}, arr[0], received).ID {
		t.Fatal("the same change of another account must get another id")
	}
}

func TestGenericUglyPayloads(t *testing.T) {
	for body, field := range map[string]string{
		``:     "body",
		`[]`:   "changes",
		`nope`: "body",
		`{"changes":[{"entity":"deal","deal_id":"1"}]}`:                                                       "changes[0].updated_at",
		`{"entity":"deal","deal_id":"1","updated_at":"2026-11-01","stagee":"x"}`:                              "stagee",
		`{"entity":"deal","deal_id":{"x":1},"updated_at":1793520000}`:                                         "deal_id",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"amount_minor":"100"}`:                        "amount_minor",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"amount":"1,5,0"}`:                            "amount",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"amount":1,"amount_minor":100}`:               "amount",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"amount":-5}`:                                 "amount",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"outcome":"maybe"}`:                           "outcome",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"currency":"рубли"}`:                          "currency",
		`{"entity":"deal","lead_id":"1","updated_at":1793520000}`:                                             "deal_id",
		`{"entity":"company","deal_id":"1","updated_at":1793520000}`:                                          "entity",
		`{"entity":"deal","deal_id":"1","updated_at":"yesterday"}`:                                            "updated_at",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"action":"merge"}`:                            "action",
		`[{"entity":"deal","deal_id":"1","updated_at":1793520000},{"entity":"lead","updated_at":1}]`:          "changes[1].lead_id",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000} {}`:                                          "body",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"quantity":2,"items":[]}`:                     "quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"quantity":-1}`:                               "quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"quantity":"NaN"}`:                            "quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"quantity":"Infinity"}`:                       "quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"quantity":1e400}`:                            "quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"quantity":"0x10"}`:                           "quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"quantity":2e9}`:                              "quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"items":[{"name":"x"}]}`:                      "items[0].quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"items":[{"quantity":1},{"quantity":"a"}]}`:   "items[1].quantity",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"items":[{"quantity":9e8},{"quantity":9e8}]}`: "items",
		`{"entity":"deal","deal_id":"1","updated_at":1793520000,"items":[{"quantity":1,"colour":"red"}]}`:     "colour",
	} {
		_, err := ParseGeneric([]byte(body), rub)
		var fe *event.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a %q error", body, err, field)
		}
	}
}

func TestAmount(t *testing.T) {
	for _, tc := range []struct {
		in, cur string
		want    int64
	}{
		{"1000", "RUB", 100_000}, {"1000000.00", "RUB", 100_000_000}, {"1 000,50", "RUB", 100_050}, {"0.005", "USD", 1},
		{"0.004", "USD", 0}, {"1500", "JPY", 1500}, {"1.2345", "KWD", 1235}, {"", "RUB", 0}, {".5", "EUR", 50}, {"-3", "RUB", -300},
	} {
		got, err := Amount(tc.in, tc.cur)
		if err != nil || got != tc.want {
			t.Errorf("Amount(%q, %s) = %d, %v; want %d", tc.in, tc.cur, got, err, tc.want)
		}
	}
	for _, bad := range []string{"abc", "1.2.3", "1e5", "99999999999999999999", ".", "--1"} {
		if _, err := Amount(bad, "RUB"); err == nil {
			t.Errorf("Amount(%q) accepted", bad)
		}
	}
}

func TestTime(t *testing.T) {
	for in, want := range map[string]int64{
		"1793520000": 1_793_520_000_000, "1793520000123": 1_793_520_000_123, "2026-11-01T10:15:30+03:00": ms("2026-11-01T07:15:30Z"),
		"2026-11-01 07:15:30": ms("2026-11-01T07:15:30Z"), "": 0, "0": 0,
	} {
		got, err := Time(in)
		if err != nil || got != want {
			t.Errorf("Time(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"-5", "yesterday", "1899-01-01T00:00:00Z", "99999999999999999"} {
		if _, err := Time(bad); err == nil {
			t.Errorf("Time(%q) accepted", bad)
		}
	}
}
