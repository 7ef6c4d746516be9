package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeAmoLead answers GET /api/v4/leads/555 as amoCRM's API v4 does with
// with=catalog_elements: the won lead, two windscreens of the products
// catalog (4521) and an invoice of another list (4533), which does not count.
func fakeAmoLead(t *testing.T, cid string, updated int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer amo-e2e-token" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"title":"Unauthorized","status":401}`)
			return
		}
		if r.URL.Path != "/api/v4/leads/555" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/hal+json")
		fmt.Fprintf(w, `{"id":555,"price":30000,"status_id":142,"pipeline_id":2116,"updated_at":%d,
 "custom_fields_values":[{"field_id":70001,"field_name":"client_id","values":[{"value":%q}]}],
 "_embedded":{"contacts":[{"id":4401,"is_main":true}],"catalog_elements":[
  {"id":425,"metadata":{"quantity":2,"catalog_id":4521,"price_id":37137}},
  {"id":9001,"metadata":{"quantity":1,"catalog_id":4533}}]}}`, updated, cid)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAmoCRMWindscreensReachTheReport: a visitor from Yandex Direct becomes
// an amoCRM lead (its client id in a custom field); the lead is won, the
// webhook carries no line items, so the collector pulls the lead with its
// catalog elements: 2 windscreens. The channel report and the per-dealer
// (accounts) report show 2 units and 30 000 of turnover; the deals table
// holds units = 2.
func TestAmoCRMWindscreensReachTheReport(t *testing.T) {
	now := time.Now().UTC()
	cid := fmt.Sprintf("units.%d", now.UnixNano())
	amo := fakeAmoLead(t, cid, now.Unix())
	n := newNode(t)
	tenantsYAML := `tenants:
  - id: glass
    timezone: UTC
    read_tokens: [glass-read-token-0001]
    accounts:
      - id: dealer
        write_keys: [glass-write-key-0001]
        crm: {provider: amocrm, subdomain: acme, base_url: "` + amo.URL + `", app_token: amo-e2e-token, units_catalog: "4521"}
`
	if err := os.WriteFile(filepath.Join(n.dataDir, "tenants.yaml"), []byte(tenantsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start()
	if ok, err := postEvents(t.Context(), n.collector, "glass-write-key-0001", []map[string]any{
		{"type": "pageview", "ts": now.Add(-time.Hour).UnixMilli(), "client_id": cid,
			"url": "https://dealer.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=glass&yclid=77"},
	}); !ok || err != nil {
		t.Fatalf("pageview not acknowledged: %v", err)
	}
	hook := "http://" + n.collector + "/v1/hooks/crm/amocrm?k=glass-write-key-0001"
	add := url.Values{
		"account[subdomain]": {"acme"}, "leads[add][0][id]": {"555"}, "leads[add][0][status_id]": {"10216995"},
		"leads[add][0][price]": {"30000"}, "leads[add][0][created_at]": {fmt.Sprint(now.Add(-30 * time.Minute).Unix())},
		"leads[add][0][custom_fields][0][id]": {"70001"}, "leads[add][0][custom_fields][0][name]": {"client_id"},
		"leads[add][0][custom_fields][0][values][0][value]": {cid},
	}
	post(t, hook, "application/x-www-form-urlencoded", add.Encode(), 200)
	// The won status as a pipeline-stage webhook sends it: ids only.
	won := url.Values{"account[subdomain]": {"acme"}, "leads[status][0][id]": {"555"},
		"leads[status][0][status_id]": {"142"}, "leads[status][0][pipeline_id]": {"2116"}}
	post(t, hook, "application/x-www-form-urlencoded", won.Encode(), 200)

	n.waitCount("SELECT count() FROM throughline.deals FINAL WHERE tenant = 'glass' AND units = 2 AND outcome = 'won'", 1, 60*time.Second)
	if v := n.query("SELECT units FROM throughline.deals_latest WHERE tenant = 'glass'"); fmt.Sprint(v) != "[[2]]" {
		t.Fatalf("deals_latest: %v, want units through the view", v)
	}
	for _, c := range []struct{ report, dim, want string }{
		{"channels", "channel", "yandex_direct"},
		{"accounts", "account", "dealer"},
	} {
		var row map[string]any
		deadline := time.Now().Add(60 * time.Second)
		for row == nil || row["units"] != 2.0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s report: %v, want %s with 2 units\nlogs:\n%s", c.report, row, c.want, tail(n.logs.String(), 3000))
			}
			time.Sleep(100 * time.Millisecond)
			row = reportRow(t, n, "glass", "glass-read-token-0001", c.report, c.dim, c.want)
		}
		if row["revenue"] != 30000.0 || row["won_deals"] != 1.0 {
			t.Fatalf("%s report row %v: want revenue 30000 of one won deal", c.report, row)
		}
	}
}

// reportRow reads GET /v1/reports/<name> of tenant (in UTC) from yesterday
// to tomorrow with token and returns the row whose dim is want (nil if
// none). The span holds a test's visits and deals of the last hour and the
// next minutes at any time of day: one sent before midnight is read after.
func reportRow(t *testing.T, n *node, tenant, token, name, dim, want string) map[string]any {
	t.Helper()
	now := time.Now().UTC()
	q := url.Values{"tenant": {tenant}, "from": {now.AddDate(0, 0, -1).Format(time.DateOnly)},
		"to": {now.AddDate(0, 0, 1).Format(time.DateOnly)}}
	req, _ := http.NewRequest("GET", "http://"+n.console+"/v1/reports/"+name+"?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s report: %d %s", name, resp.StatusCode, b)
	}
	var a struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	for _, r := range a.Rows {
		if r[dim] == want {
			return r
		}
	}
	return nil
}
