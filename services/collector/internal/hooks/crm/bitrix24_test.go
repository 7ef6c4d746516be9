package crm

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

func TestBitrix24Event(t *testing.T) {
	body := formFixture(t, "bitrix24/event_deal_update.form")
	ev, err := ParseBitrix24(body)
	if err != nil {
		t.Fatal(err)
	}
	want := BitrixEvent{Name: "ONCRMDEALUPDATE", Entity: "deal", Action: "update", ID: "1234", TS: 1_793_520_000_000,
		Domain: "branch-7.bitrix24.ru", AppToken: "b24-app-token-branch-7"}
	if *ev != want {
		t.Fatalf("got %+v", *ev)
	}
	if !ev.TokenMatches("b24-app-token-branch-7") || ev.TokenMatches("b24-app-token-branch-8") || ev.TokenMatches("") {
		t.Fatal("token comparison")
	}
	red := string(RedactBitrix24(body))
	if strings.Contains(red, "b24-app-token-branch-7") || !strings.Contains(red, "auth%5Bapplication_token%5D=REDACTED") ||
		!strings.Contains(red, "branch-7.bitrix24.ru") {
		t.Fatalf("redacted: %s", red)
	}
	if again, err := ParseBitrix24([]byte(red)); err != nil || again.ID != "1234" {
		t.Fatalf("a redacted payload must still parse: %v", err)
	}
	oauth := RedactBitrix24([]byte("event=ONCRMLEADADD&auth[access_token]=secret1&auth%5Brefresh_token%5D=secret2&auth[expires_in]=3600"))
	if strings.Contains(string(oauth), "secret") || !strings.Contains(string(oauth), "expires_in]=3600") {
		t.Fatalf("oauth keys: %s", oauth)
	}
}

func TestBitrix24EventKinds(t *testing.T) {
	for body, want := range map[string][2]string{
		"event=ONCRMLEADADD&data[FIELDS][ID]=1":        {"lead", "add"},
		"event=onCrmContactDelete&data[FIELDS][ID]=2":  {"contact", "delete"},
		"event=ONCRMCOMPANYUPDATE&data[FIELDS][ID]=3":  {"", ""},
		"event=ONCRMDYNAMICITEMADD&data[FIELDS][ID]=4": {"", ""},
		"event=ONCRMDEALADD&data[FIELDS][ID]=5&ts=":    {"deal", "add"},
	} {
		ev, err := ParseBitrix24([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if ev.Entity != want[0] || ev.Action != want[1] {
			t.Errorf("%s: %s %s", body, ev.Entity, ev.Action)
		}
	}
	for body, field := range map[string]string{
		"":                      "event",
		"data[FIELDS][ID]=1":    "event",
		"event=ONCRMDEALUPDATE": "data[FIELDS][ID]",
		"event=ONCRMDEALUPDATE&data[FIELDS][ID]=../../x":        "data[FIELDS][ID]",
		"event=ONCRMDEALUPDATE&data[FIELDS][ID]=1&ts=yesterday": "ts",
	} {
		_, err := ParseBitrix24([]byte(body))
		var fe *event.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%q: %v, want a %s error", body, err, field)
		}
	}
}

func TestBitrix24DealWon(t *testing.T) {
	ev := &BitrixEvent{Entity: "deal", Action: "update", ID: "1234", TS: 1_793_520_000_000}
	api := bitrixFromFile{"crm.deal.get 1234": bitrixResult(t, "bitrix24/deal_won.json")}
	ch, err := ResolveBitrix24(context.Background(), ev, api, Settings{Currency: "RUB", ClientIDField: "UF_CRM_1640042314192"})
	if err != nil {
		t.Fatal(err)
	}
	want := event.CRM{Provider: "bitrix24", Entity: "deal", Action: "update", LeadID: "880", DealID: "1234", ContactID: "4401",
		Pipeline: "0", Stage: "WON", Outcome: "won", Amount: 100_000_000, Currency: "RUB",
		ClientID: "cid-42.1793000000", CallID: "ct-777", UpdatedAt: ms("2026-11-01T07:15:30Z")}
	if !reflect.DeepEqual(ch.CRM, want) {
		t.Fatalf("got  %+v\nwant %+v", ch.CRM, want)
	}
}

func TestBitrix24OutcomeAndTypes(t *testing.T) {
	// Another pipeline, no semantics, a number where a string is usual, no
	// currency, "0" for no contact.
	ch := Change{}
	ch.Provider, ch.Entity, ch.DealID = "bitrix24", "deal", "1235"
	if err := MapBitrix24(&ch, bitrixResult(t, "bitrix24/deal_other_pipeline.json"), Settings{Currency: "KZT"}); err != nil {
		t.Fatal(err)
	}
	if ch.Outcome != "lost" || ch.Stage != "C3:LOSE" || ch.Pipeline != "3" || ch.Amount != 1_250_000 || ch.Currency != "KZT" || ch.ContactID != "" || ch.LeadID != "" {
		t.Fatalf("%+v", ch.CRM)
	}
	s := Settings{Currency: "RUB", WonStages: []string{"C5:PAID"}}
	for _, tc := range []struct{ semantic, stage, want string }{
		{"S", "C5:NEW", "won"}, {"F", "WON", "lost"}, {"P", "WON", "open"}, // semantics win over names
		{"", "C5:PAID", "won"}, {"", "C7:WON", "won"}, {"", "APOLOGY", "lost"}, {"", "NEW", "open"},
	} {
		if got := s.bitrixOutcome(tc.semantic, tc.stage, []string{"WON"}, []string{"LOSE", "APOLOGY"}); got != tc.want {
			t.Errorf("%q %q: %s, want %s", tc.semantic, tc.stage, got, tc.want)
		}
	}
	for _, bad := range []string{`{"ID":"1235","OPPORTUNITY":"много"}`, `{"ID":"999"}`, `{"ID":"1235","DATE_MODIFY":"вчера"}`, `[1]`, `null`} {
		ch := Change{}
		ch.Provider, ch.Entity, ch.DealID = "bitrix24", "deal", "1235"
		if err := MapBitrix24(&ch, []byte(bad), rub); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestBitrix24LeadAndContact(t *testing.T) {
	api := bitrixFromFile{
		"crm.lead.get 880":     bitrixResult(t, "bitrix24/lead.json"),
		"crm.contact.get 4401": bitrixResult(t, "bitrix24/contact.json"),
	}
	lead, err := ResolveBitrix24(context.Background(), &BitrixEvent{Entity: "lead", Action: "add", ID: "880"}, api, rub)
	if err != nil {
		t.Fatal(err)
	}
	if lead.LeadID != "880" || lead.Outcome != "open" || lead.Stage != "IN_PROCESS" || lead.ClientID != "cid-42.1793000000" ||
		!reflect.DeepEqual(lead.Phones, []string{"+79161234567"}) || !reflect.DeepEqual(lead.Emails, []string{"ivan@example.ru"}) {
		t.Fatalf("lead %+v", lead.CRM)
	}
	contact, err := ResolveBitrix24(context.Background(), &BitrixEvent{Entity: "contact", Action: "update", ID: "4401"}, api, rub)
	if err != nil {
		t.Fatal(err)
	}
	if contact.ContactID != "4401" || contact.LeadID != "880" || len(contact.Phones) != 1 || contact.Emails[0] != "ivan@example.ru" {
		t.Fatalf("contact %+v", contact.CRM)
	}
	// Deletes are not fetched: the entity is gone.
	del, err := ResolveBitrix24(context.Background(), &BitrixEvent{Entity: "deal", Action: "delete", ID: "77", TS: 1_793_520_000_000}, bitrixFromFile{}, rub)
	if err != nil || del.DealID != "77" || del.UpdatedAt != 1_793_520_000_000 {
		t.Fatalf("delete %+v %v", del.CRM, err)
	}
	if _, err := ResolveBitrix24(context.Background(), &BitrixEvent{Entity: "deal", Action: "update", ID: "78"}, bitrixFromFile{}, rub); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing deal: %v", err)
	}
}
