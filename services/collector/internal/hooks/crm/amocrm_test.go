package crm

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

var rub = Settings{Currency: "RUB"}

func TestAmoCRMDocumentedStatusWebhook(t *testing.T) {
	req, err := ParseAmoCRM(fixture(t, "amocrm/status_won.txt"), rub)
	if err != nil {
		t.Fatal(err)
	}
	if req.Subdomain != "acme" || req.AccountID != "16700680" || len(req.Items) != 1 || len(req.Errors) != 0 {
		t.Fatalf("request %+v", req)
	}
	it := req.Items[0]
	want := event.CRM{Provider: "amocrm", Entity: "lead", Action: "status", LeadID: "31926520", DealID: "31926520",
		Pipeline: "2116", Stage: "142", Outcome: "won", Amount: 100_000, Currency: "RUB",
		ClientID: "cid-42.1793000000", UpdatedAt: 1_793_520_000_000}
	if !reflect.DeepEqual(it.CRM, want) || it.Pull {
		t.Fatalf("got  %+v pull=%v\nwant %+v", it.CRM, it.Pull, want)
	}
}

func TestAmoCRMSeveralGroups(t *testing.T) {
	req, err := ParseAmoCRM(formFixture(t, "amocrm/add_multi.form"), rub)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Items) != 2 || req.Ignored != 1 || len(req.Errors) != 0 {
		t.Fatalf("items %d ignored %d errors %v", len(req.Items), req.Ignored, req.Errors)
	}
	lead, contact := req.Items[0], req.Items[1]
	if lead.Entity != "lead" || lead.Action != "add" || lead.Amount != 2_500_000 || lead.ClientID != "cid-7.1793500000" ||
		lead.CallID != "ct-555" || lead.UpdatedAt != 1_793_520_100_000 || lead.Outcome != "open" || lead.Pull {
		t.Fatalf("lead %+v", lead)
	}
	if contact.Entity != "contact" || contact.ContactID != "4401" || contact.LeadID != "31926600" ||
		!reflect.DeepEqual(contact.Phones, []string{"+79161234567", "+74951112233"}) ||
		!reflect.DeepEqual(contact.Emails, []string{"ivan.petrov@example.ru"}) || contact.UpdatedAt != 1_793_520_101_000 {
		t.Fatalf("contact %+v", contact)
	}
}

func TestAmoCRMPipelineStageWebhookIsPulled(t *testing.T) {
	body := formFixture(t, "amocrm/pipeline_stage.form")
	req, err := ParseAmoCRM(body, rub)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Items) != 1 || !req.Items[0].Pull || req.Items[0].Outcome != "won" {
		t.Fatalf("items %+v", req.Items)
	}
	api := leadsFromFile{"31926520": fixture(t, "amocrm/lead_api.json")}
	changes, errs := ResolveAmoCRM(context.Background(), req, api, rub, body)
	if len(errs) != 0 || len(changes) != 1 {
		t.Fatalf("changes %v errors %v", changes, errs)
	}
	c := changes[0]
	if c.Amount != 15_000_000 || c.UpdatedAt != 1_793_520_700_000 || c.ClientID != "cid-42.1793000000" ||
		c.CallID != "987654" || c.ContactID != "4401" || c.Stage != "142" || c.Outcome != "won" || c.Seed != "" {
		t.Fatalf("pulled change %+v", c)
	}

	// Without an API (no base_url configured) the ids are published as they
	// came, ordered by the time of receipt and de-duplicated by the body.
	changes, errs = ResolveAmoCRM(context.Background(), req, nil, rub, body)
	if len(errs) != 0 || len(changes) != 1 || changes[0].Amount != 0 || changes[0].Seed == "" {
		t.Fatalf("unpulled %+v %v", changes, errs)
	}

	// A pull that fails is reported, for a dead letter and a later re-drive.
	_, errs = ResolveAmoCRM(context.Background(), req, failingAmo{}, rub, body)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "lead 31926520") {
		t.Fatalf("errors %v", errs)
	}
}

type failingAmo struct{}

func (failingAmo) Lead(context.Context, string) (json.RawMessage, error) {
	return nil, errors.New("HTTP 503")
}

func TestAmoCRMDeletesCarryIDsOnly(t *testing.T) {
	body := formFixture(t, "amocrm/delete.form")
	req, err := ParseAmoCRM(body, rub)
	if err != nil {
		t.Fatal(err)
	}
	changes, errs := ResolveAmoCRM(context.Background(), req, leadsFromFile{}, rub, body)
	if len(errs) != 0 || len(changes) != 2 {
		t.Fatalf("%+v %v", changes, errs)
	}
	for _, c := range changes {
		if c.Action != "delete" || c.UpdatedAt != 0 || c.Seed == "" {
			t.Fatalf("delete %+v", c)
		}
		e := Envelope(testPrincipal, c, received)
		if e.CRM.UpdatedAt != received.UnixMilli() || e.TS != received.UnixMilli() {
			t.Fatalf("updated_at must be set: %+v", e.CRM)
		}
	}
	if changes[0].Outcome != "lost" || changes[1].Entity != "contact" {
		t.Fatalf("%+v", changes)
	}
	// A second delivery of the same delete gets the same id even received later.
	again := Envelope(testPrincipal, changes[0], received.Add(90e9))
	if first := Envelope(testPrincipal, changes[0], received); again.ID != first.ID {
		t.Fatalf("duplicate delete got a new id: %s vs %s", again.ID, first.ID)
	}
}

func TestAmoCRMUglyItemsDoNotSpoilTheGoodOnes(t *testing.T) {
	req, err := ParseAmoCRM(formFixture(t, "amocrm/ugly.form"), rub)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Items) != 1 || req.Items[0].LeadID != "31926700" || req.Items[0].Outcome != "lost" || req.Items[0].ClientID != "" {
		t.Fatalf("items %+v", req.Items)
	}
	if req.Ignored != 1 || len(req.Errors) != 2 {
		t.Fatalf("ignored %d errors %v", req.Ignored, req.Errors)
	}
	if got := req.Errors[0].Error(); got != "leads[update][1][id]: required" {
		t.Fatalf("error %q", got)
	}
	if got := req.Errors[1].Error(); !strings.HasPrefix(got, "leads[update][2][price]: ") {
		t.Fatalf("error %q", got)
	}
	if _, err := ParseAmoCRM([]byte("hello=world"), rub); err == nil {
		t.Fatal("a body without leads or contacts must be refused")
	}
}

func TestAmoCRMWonThenReopenedOutOfOrder(t *testing.T) {
	req, err := ParseAmoCRM(formFixture(t, "amocrm/reopened.form"), rub)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Items) != 2 {
		t.Fatalf("items %+v", req.Items)
	}
	reopened, won := Envelope(testPrincipal, req.Items[0].Change, received), Envelope(testPrincipal, req.Items[1].Change, received)
	if reopened.CRM.Outcome != "open" || won.CRM.Outcome != "won" || reopened.ID == won.ID {
		t.Fatalf("reopened %+v won %+v", reopened.CRM, won.CRM)
	}
	// Downstream orders by the CRM's clock, not by arrival.
	if !(won.CRM.UpdatedAt < reopened.CRM.UpdatedAt && won.TS == won.CRM.UpdatedAt) {
		t.Fatalf("updated_at won %d reopened %d", won.CRM.UpdatedAt, reopened.CRM.UpdatedAt)
	}
}

func TestAmoCRMStageOverrides(t *testing.T) {
	s := Settings{Currency: "USD", WonStages: []string{"555"}, LostStages: []string{"556"}}
	body := "leads[status][0][id]=1&leads[status][0][status_id]=%s&leads[status][0][price]=10&leads[status][0][updated_at]=1793520000"
	for status, want := range map[string]string{"555": "won", "556": "lost", "142": "open", "143": "open"} {
		req, err := ParseAmoCRM([]byte(strings.Replace(body, "%s", status, 1)), s)
		if err != nil || len(req.Items) != 1 {
			t.Fatal(err, req)
		}
		if got := req.Items[0]; got.Outcome != want || got.Amount != 1000 || got.Currency != "USD" {
			t.Errorf("status %s: %+v, want %s", status, got.CRM, want)
		}
	}
	s = Settings{Currency: "RUB", ClientIDField: "70001"}
	req, _ := ParseAmoCRM(fixture(t, "amocrm/status_won.txt"), s)
	if req.Items[0].ClientID != "cid-42.1793000000" {
		t.Fatalf("client id by field id: %+v", req.Items[0])
	}
	s.ClientIDField = "66339"
	req, _ = ParseAmoCRM(fixture(t, "amocrm/status_won.txt"), s)
	if req.Items[0].ClientID != "Сайт" {
		t.Fatalf("client id by another field id: %+v", req.Items[0])
	}
}

func TestAmoSubdomain(t *testing.T) {
	for in, want := range map[string]string{
		"https://acme.amocrm.ru": "acme", "https://Acme.kommo.com/": "acme", "http://127.0.0.1:8080": "", "": "",
	} {
		if got := AmoSubdomain(in); got != want {
			t.Errorf("AmoSubdomain(%q) = %q, want %q", in, got, want)
		}
	}
}
