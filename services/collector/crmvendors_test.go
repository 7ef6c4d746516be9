package collector

import (
	"net/http"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

const (
	keyEkb        = "key-acme-ekb-0001"
	keyNsk        = "key-acme-nsk-0001"
	tokenMegaplan = "megaplan-token-0123"
	tokenDynamics = "dynamics-webhook-key-0123"
)

// TestCRMMegaplanDynamicsEndToEnd: a Megaplan deal and a Dynamics 365
// opportunity (flow JSON with ?code=, plug-in context with ?token=) become
// CRM changes; a task is answered 200 and ignored; a wrong token is 403 and
// an unauthenticated dead letter; a provider that is not the account's CRM
// is refused.
func TestCRMMegaplanDynamicsEndToEnd(t *testing.T) {
	k := startKafka(t)
	s := newCRMServer(t, k, startVendors(t))
	ok := []struct{ path, file, deal, outcome string }{
		{"/v1/hooks/crm/megaplan?k=" + keyEkb + "&token=" + tokenMegaplan, "megaplan/deal_won.json", "1000123", "won"},
		{"/v1/hooks/crm/megaplan?k=" + keyEkb + "&token=" + tokenMegaplan, "megaplan/lost_by_stage.json", "1000125", "lost"},
		{"/v1/hooks/crm/dynamics?k=" + keyNsk + "&code=" + tokenDynamics, "dynamics/flow_won.json", "6f1c1f3e-2c5d-ef11-bfe3-000d3a2b4c5d", "won"},
		{"/v1/hooks/crm/dynamics?k=" + keyNsk + "&token=" + tokenDynamics, "dynamics/plugin_update.json", "7a2d2f3e-2c5d-ef11-bfe3-000d3a2b4c5d", "lost"},
	}
	for _, d := range ok {
		r := s.send(t, "POST", d.path, "application/json", hookFixture(t, crmFixturesDir, d.file), nil)
		if r.status != http.StatusOK || !strings.Contains(r.body, `"accepted":1`) {
			t.Fatalf("%s: %d %s", d.file, r.status, r.body)
		}
	}
	r := s.send(t, "POST", ok[0].path, "application/json", hookFixture(t, crmFixturesDir, "megaplan/task.json"), nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"ignored":1`) {
		t.Fatalf("task: %d %s", r.status, r.body)
	}
	envs := decodeAll(t, k.consume(t, kafka.TopicRaw, len(ok)))
	byDeal := map[string]string{}
	for _, e := range envs {
		byDeal[e.CRM.DealID] = e.Source + "/" + e.CRM.Outcome + "/" + e.Account
	}
	for _, d := range ok {
		provider := strings.Split(strings.TrimPrefix(d.path, "/v1/hooks/crm/"), "?")[0]
		account := map[string]string{"megaplan": "ekb", "dynamics": "nsk"}[provider]
		if want := "crm:" + provider + "/" + d.outcome + "/" + account; byDeal[d.deal] != want {
			t.Fatalf("deal %s: %q, want %q", d.deal, byDeal[d.deal], want)
		}
	}
	refused := []struct {
		path   string
		status int
	}{
		{"/v1/hooks/crm/megaplan?k=" + keyEkb + "&token=wrong", http.StatusForbidden},
		{"/v1/hooks/crm/dynamics?k=" + keyNsk, http.StatusForbidden},
		{"/v1/hooks/crm/dynamics?k=" + keyEkb + "&code=" + tokenDynamics, http.StatusForbidden},
	}
	for _, d := range refused {
		if r := s.send(t, "POST", d.path, "application/json", hookFixture(t, crmFixturesDir, "dynamics/flow_won.json"), nil); r.status != d.status {
			t.Fatalf("%s: %d %s", d.path, r.status, r.body)
		}
	}
	dls := deadLetters(t, k, len(refused))
	byAccount := map[string]string{}
	for _, dl := range dls {
		byAccount[dl.Account+"/"+dl.Source] = dl.Reason
	}
	if !strings.HasPrefix(byAccount["nsk/crm:dynamics"], intake.ReasonPrefixUnauthenticated) ||
		!strings.HasPrefix(byAccount["ekb/crm:megaplan"], intake.ReasonPrefixUnauthenticated) ||
		!strings.HasPrefix(byAccount["ekb/crm:dynamics"], "provider:") {
		t.Fatalf("dead letters %+v", byAccount)
	}
	if r := s.send(t, "POST", ok[0].path, "application/json", []byte(`{"model":"Deal","data":{"id":"1","price":{"value":"x"}}}`), nil); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, `"field":"data.price"`) {
		t.Fatalf("bad price: %d %s", r.status, r.body)
	}
}
