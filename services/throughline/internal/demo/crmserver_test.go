package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/tenants"
)

func startCRM(t *testing.T) *CRMServer {
	t.Helper()
	s, err := ListenCRM("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, u string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func account(t *testing.T, tc *tenants.Config, id string) *tenants.Account {
	t.Helper()
	_, a := tc.Find(TenantID, id)
	if a == nil {
		t.Fatalf("no account %s", id)
	}
	return a
}

// The simulated CRMs answer like Bitrix24's and amoCRM's REST APIs, from
// the state the demo's changes left, and only with the right credentials.
func TestCRMServerAnswersLikeTheVendors(t *testing.T) {
	s := startCRM(t)
	tc := TenantsFor(1, 5, s.URL())
	if n := s.configure(tc); n != 0 {
		t.Fatalf("%d CRMs point elsewhere", n)
	}
	moscow, spb, novosibirsk := account(t, tc, "moscow"), account(t, tc, "saint-petersburg"), account(t, tc, blockedBranch)
	s.store.put("moscow", "bitrix24/deal", "42", []byte(`{"ID":"42","STAGE_ID":"WON"}`))
	s.store.put(novosibirsk.ID, "bitrix24/lead", "7", []byte(`{"ID":"7"}`))
	s.store.put(spb.ID, "amocrm/lead", "31926520", []byte(`{"id":31926520,"status_id":142}`))

	code, body := get(t, moscow.CRM.BaseURL+"crm.deal.get?id=42", nil)
	var answer struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal([]byte(body), &answer); code != 200 || err != nil || answer.Result["STAGE_ID"] != "WON" {
		t.Fatalf("crm.deal.get: %d %s", code, body)
	}
	if code, body := get(t, moscow.CRM.BaseURL+"crm.deal.get?id=43", nil); code != 400 || !strings.Contains(body, "Not found") {
		t.Errorf("missing deal: %d %s", code, body)
	}
	if code, _ := get(t, moscow.CRM.BaseURL+"crm.company.get?id=1", nil); code != 404 {
		t.Errorf("unknown method: %d", code)
	}
	wrong := strings.Replace(moscow.CRM.BaseURL, "/rest/1/", "/rest/2/", 1)
	if code, body := get(t, wrong+"crm.deal.get?id=42", nil); code != 401 || !strings.Contains(body, "INVALID_CREDENTIALS") {
		t.Errorf("wrong webhook secret: %d %s", code, body)
	}
	// Another branch's secret does not open this branch's portal.
	other := strings.Replace(novosibirsk.CRM.BaseURL, "/"+novosibirsk.ID+"/", "/moscow/", 1)
	if code, _ := get(t, other+"crm.deal.get?id=42", nil); code != 401 {
		t.Errorf("novosibirsk's secret on moscow's portal: %d", code)
	}

	// The blocked portal refuses its first pulls, then answers.
	for i := range blockedPulls {
		if code, body := get(t, novosibirsk.CRM.BaseURL+"crm.lead.get?id=7", nil); code != 503 || !strings.Contains(body, "OVERLOAD_LIMIT") {
			t.Fatalf("pull %d of the blocked portal: %d %s", i, code, body)
		}
	}
	if code, _ := get(t, novosibirsk.CRM.BaseURL+"crm.lead.get?id=7", nil); code != 200 {
		t.Errorf("after the block: %d", code)
	}

	auth := map[string]string{"Authorization": "Bearer " + spb.CRM.AppToken}
	if code, body := get(t, spb.CRM.BaseURL+"/api/v4/leads/31926520?with=contacts", auth); code != 200 || !strings.Contains(body, `"status_id":142`) {
		t.Errorf("amoCRM lead: %d %s", code, body)
	}
	if code, _ := get(t, spb.CRM.BaseURL+"/api/v4/leads/1", auth); code != 204 {
		t.Errorf("missing amoCRM lead: %d", code)
	}
	if code, _ := get(t, spb.CRM.BaseURL+"/api/v4/leads/31926520", map[string]string{"Authorization": "Bearer nope"}); code != 401 {
		t.Errorf("wrong amoCRM token: %d", code)
	}
	served, refused := s.Pulls()
	if served != 3 || refused != int64(blockedPulls)+3 {
		t.Errorf("served %d, refused %d", served, refused)
	}

	// CRMs written for another address are counted, not served.
	if n := s.configure(TenantsFor(1, 5, "http://127.0.0.1:1")); n == 0 {
		t.Error("CRMs at another address not noticed")
	}
}
