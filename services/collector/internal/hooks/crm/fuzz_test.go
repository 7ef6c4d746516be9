package crm

import (
	"context"
	"encoding/json"
	"testing"
)

// checkChanges is what every parser promises for input it accepts: each
// change validates, becomes a valid envelope with its time set, and the same
// change always gets the same id.
func checkChanges(t *testing.T, changes []Change) {
	t.Helper()
	for _, ch := range changes {
		if err := Validate(&ch.CRM); err != nil {
			t.Fatalf("accepted an invalid change %+v: %v", ch.CRM, err)
		}
		e := Envelope(testPrincipal, ch, received)
		if err := e.Validate(); err != nil {
			t.Fatalf("envelope of %+v: %v", ch.CRM, err)
		}
		if e.CRM.UpdatedAt <= 0 || e.TS != e.CRM.UpdatedAt {
			t.Fatalf("change without a time: %+v", e.CRM)
		}
		if again := Envelope(testPrincipal, ch, received.Add(1e9)); again.ID != e.ID && ch.Seed == "" && ch.UpdatedAt > 0 {
			t.Fatalf("ids differ for one change")
		}
	}
}

func FuzzAmoCRM(f *testing.F) {
	f.Add(fixture(f, "amocrm/status_won.txt"))
	for _, name := range []string{"add_multi", "pipeline_stage", "delete", "ugly", "reopened"} {
		f.Add(formFixture(f, "amocrm/"+name+".form"))
	}
	f.Add([]byte("leads[status][0]=1&leads[status][x][id]=2&contacts=3&account=4"))
	lead := fixture(f, "amocrm/lead_api.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseAmoCRM(body, rub)
		if err != nil {
			return
		}
		for _, it := range req.Items {
			if it.Pull && it.Action == ActionDelete {
				t.Fatal("deletes are never pulled")
			}
		}
		changes, _ := ResolveAmoCRM(context.Background(), req, leadsFromFile{"31926520": lead}, rub, body)
		checkChanges(t, changes)
	})
}

func FuzzBitrix24(f *testing.F) {
	f.Add(formFixture(f, "bitrix24/event_deal_update.form"), []byte(bitrixResult(f, "bitrix24/deal_won.json")))
	f.Add([]byte("event=ONCRMLEADADD&data[FIELDS][ID]=880"), []byte(bitrixResult(f, "bitrix24/lead.json")))
	f.Add([]byte("event=ONCRMCONTACTUPDATE&data[FIELDS][ID]=4401&ts=1793520000"), []byte(bitrixResult(f, "bitrix24/contact.json")))
	f.Add([]byte("event=ONCRMDEALDELETE&data[FIELDS][ID]=1235"), []byte(bitrixResult(f, "bitrix24/deal_other_pipeline.json")))
	f.Add([]byte("event=ONCRMDEALUPDATE&data[FIELDS][ID]=1"), []byte(`{"ID":1,"OPPORTUNITY":[1],"PHONE":"x","STAGE_SEMANTIC_ID":{}}`))
	f.Fuzz(func(t *testing.T, body, entity []byte) {
		ev, err := ParseBitrix24(body)
		if err != nil || ev.Entity == "" {
			return
		}
		api := bitrixFromFile{"crm." + ev.Entity + ".get " + ev.ID: json.RawMessage(entity)}
		ch, err := ResolveBitrix24(context.Background(), ev, api, rub)
		if err != nil {
			return
		}
		checkChanges(t, []Change{ch})
	})
}

func FuzzGeneric(f *testing.F) {
	f.Add(fixture(f, "generic/changes.json"))
	f.Add([]byte(`{"entity":"contact","contact_id":"c1","phone":"9161234567","updated_at":"2026-11-01T00:00:00Z"}`))
	f.Add([]byte(`[{"entity":"deal","deal_id":1,"updated_at":1793520000000,"amount":"1 000,5"}]`))
	f.Add([]byte(`{"changes":null,"entity":"lead"}`))
	f.Add([]byte(`{"entity":"deal","deal_id":"7","updated_at":1793520000,"items":[{"quantity":"1,5"},{"quantity":2,"sku":"WS"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := ParseGeneric(body, rub)
		if err != nil {
			return
		}
		checkChanges(t, changes)
	})
}
