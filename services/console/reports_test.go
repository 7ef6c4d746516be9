package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

const (
	netToken   = "net-read-token-0001"
	otherToken = "other-read-token-0001"
	sqlToken   = "admin-sql-token-0001"
)

var reportTenants = `
tenants:
  - id: net
    timezone: Europe/Moscow
    currency: RUB
    margin: 0.5
    read_tokens: [` + netToken + `]
    accounts:
      - id: msk
      - id: spb
  - id: other
    timezone: Asia/Novosibirsk
    read_tokens: [` + otherToken + `]
    accounts:
      - id: nsk
`

// reportWorld is the hand-computed network of tenant net plus one session
// and lead of tenant other, refreshed, behind a console that requires tokens.
func reportWorld(t *testing.T) *httptest.Server {
	t.Helper()
	cfg, err := tenants.Parse([]byte(reportTenants))
	if err != nil {
		t.Fatal(err)
	}
	w := testnet.New(t, engine)
	testnet.Network(t, w)
	ts := testnet.At(t, "2026-03-02T05:00:00Z")
	w.Put(&entity.Session{Meta: entity.Meta{Tenant: "other", Account: "nsk"}, SessionID: "o1", PersonID: "q1", Start: ts,
		Channel: "yandex_direct", Source: "yandex", Medium: "cpc", Campaign: "spring"},
		&entity.Lead{Meta: entity.Meta{Tenant: "other", Account: "nsk"}, LeadID: "OL1", PersonID: "q1", TS: ts + 60_000, Kind: "form",
			Channel: "yandex_direct", RevenueMinor: 777_00, WonDeals: 1, Deals: 1},
		&entity.Attribution{Meta: entity.Meta{Tenant: "other", Account: "nsk"}, LeadID: "OL1", Model: "last_non_direct", Touches: 1,
			LeadTS: ts + 60_000, SessionID: "o1", Channel: "yandex_direct", Source: "yandex", Medium: "cpc", Campaign: "spring",
			Weight: 1, RevenueMinor: 777_00})
	r, err := aggregates.NewRefresher(aggregates.RefreshConfig{}, aggregates.RefreshDeps{Store: engine, Database: w.DB, Zones: cfg.Zone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{SQLToken: sqlToken}, Deps{Store: engine, Tenants: cfg, Database: w.DB})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, path string, params url.Values, token string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path+"?"+params.Encode(), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

type answer struct {
	Tenant  string                       `json:"tenant"`
	Columns []string                     `json:"columns"`
	Rows    []map[string]json.RawMessage `json:"rows"`
	Total   map[string]json.RawMessage   `json:"total"`
}

func decodeReport(t *testing.T, status int, body []byte) answer {
	t.Helper()
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return a
}

func day(s string) url.Values {
	return url.Values{"from": {s}, "to": {s}}
}

func TestChannelReportJSONAndCSV(t *testing.T) {
	srv := reportWorld(t)
	status0, _, body0 := get(t, srv, "/v1/reports/channels", day("2026-03-02"), netToken)
	a := decodeReport(t, status0, body0)
	if a.Tenant != "net" || a.Columns[0] != "channel" || len(a.Rows) != 6 {
		t.Fatalf("answer: %+v", a)
	}
	rows := map[string]map[string]json.RawMessage{}
	for _, r := range a.Rows {
		var ch string
		json.Unmarshal(r["channel"], &ch)
		rows[ch] = r
	}
	for ch, want := range map[string]map[string]string{
		// 9 000 of central spend, 3 leads, 120 000 of revenue, margin ½.
		// By kind: L2 a call, L1 and L4 forms; each kind's CPL is the whole
		// cost over that kind's leads.
		"yandex_direct": {"cost": "9000", "leads": "3", "revenue": "120000", "cpl": "3000", "roi": "12.3333", "romi": "5.6667", "cpc": "100",
			"leads_call": "1", "leads_form": "2", "leads_chat": "0", "leads_crm": "0",
			"cpl_call": "9000", "cpl_form": "4500", "cpl_chat": "null", "cpl_crm": "null"},
		// Spend without sessions: no leads, so no CPL.
		"vk_ads": {"cost": "1500", "leads": "0", "cpl": "null", "roi": "-1", "cpl_call": "null", "cpl_form": "null"},
		// No spend: no ROI.
		"offline": {"cost": "0", "revenue": "30000", "roi": "null", "romi": "null", "cpl": "0"},
	} {
		for k, v := range want {
			if got := string(rows[ch][k]); got != v {
				t.Errorf("%s %s = %s, want %s", ch, k, got, v)
			}
		}
	}
	if got := string(a.Total["cost"]); got != "13500" {
		t.Errorf("total cost %s", got)
	}

	params := day("2026-03-02")
	params.Set("format", "csv")
	status, hdr, body := get(t, srv, "/v1/reports/channels", params, netToken)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", status, hdr.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "channel,cost,clicks,impressions,sessions,leads,leads_call,leads_form,leads_chat,leads_crm,target_leads,unique_leads,deals,won_deals,revenue,units,new_customers,cpc,cpl,cpl_call,cpl_form,cpl_chat,cpl_crm,cpa,cps,cac,cr,aov,cost_per_unit,roi,romi" {
		t.Fatalf("header %v", recs[0])
	}
	for _, rec := range recs[1:] {
		if rec[0] == "vk_ads" && (rec[18] != "" || rec[19] != "" || rec[1] != "1500") {
			t.Errorf("vk_ads csv: %v (cpl and cpl_call must be empty)", rec)
		}
		if rec[0] == "yandex_direct" && (rec[6] != "1" || rec[7] != "2" || rec[19] != "9000" || rec[20] != "4500" || rec[21] != "") {
			t.Errorf("yandex_direct csv: %v (1 call at 9000, 2 forms at 4500, no chat)", rec)
		}
	}
}

func TestReportsByCampaignAccountDayAndModel(t *testing.T) {
	srv := reportWorld(t)
	for _, c := range []struct {
		path   string
		params url.Values
		cols   string
		rows   int
	}{
		{"/v1/reports/campaigns", day("2026-03-02"), "channel,source,medium,campaign,cost", 6},
		{"/v1/reports/sources", day("2026-03-02"), "channel,source,medium,cost", 6},
		{"/v1/reports/accounts", day("2026-03-02"), "account,cost", 3},
		{"/v1/reports/days", url.Values{"from": {"2026-03-01"}, "to": {"2026-03-03"}}, "day,cost", 1},
		{"/v1/reports/channels", url.Values{"from": {"2026-03-02"}, "to": {"2026-03-02"}, "by": {"day,account"}, "model": {"linear"}}, "day,account,cost", 3},
	} {
		status, _, body := get(t, srv, c.path, c.params, netToken)
		a := decodeReport(t, status, body)
		if got := strings.Join(a.Columns[:strings.Count(c.cols, ",")+1], ","); got != c.cols || len(a.Rows) != c.rows {
			t.Errorf("%s %v: columns %s, %d rows; want %s, %d", c.path, c.params, got, len(a.Rows), c.cols, c.rows)
		}
	}
	status, _, body := get(t, srv, "/v1/reports/accounts", url.Values{"from": {"2026-03-02"}, "to": {"2026-03-02"}, "model": {"first_click"}}, netToken)
	for _, r := range decodeReport(t, status, body).Rows {
		if string(r["account"]) == `"msk"` && (string(r["cost"]) != "9000" || string(r["revenue"]) != "120000") {
			t.Errorf("msk: %s %s", r["cost"], r["revenue"])
		}
	}
	for _, bad := range []url.Values{
		{"model": {"u_shaped"}}, {"from": {"2026-03-03"}, "to": {"2026-03-01"}}, {"from": {"yesterday"}},
		{"by": {"channel,nope"}}, {"format": {"xml"}}, {"from": {"2020-01-01"}, "to": {"2026-01-01"}},
	} {
		status, _, body := get(t, srv, "/v1/reports/channels", bad, netToken)
		if status != http.StatusBadRequest {
			t.Errorf("%v: %d %s, want 400", bad, status, body)
		}
	}
}

func TestReportsAreTenantIsolated(t *testing.T) {
	srv := reportWorld(t)
	q := func(kv ...string) url.Values {
		v := day("2026-03-02")
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, c := range []struct {
		name   string
		params url.Values
		token  string
		status int
	}{
		{"no token", q(), "", 401},
		{"a wrong token", q(), "net-read-token-0002", 401},
		{"a write key is not a read token", q(), "msk-key-123", 401},
		{"another tenant by parameter", q("tenant", "other"), netToken, 403},
		{"the other way round", q("tenant", "net"), otherToken, 403},
		{"another tenant's account", q("account", "msk"), otherToken, 404},
		{"a quote in the tenant", q("tenant", "net' OR '1'='1"), sqlToken, 404},
		{"a quote in the account", q("account", "msk' OR '1'='1"), netToken, 404},
	} {
		for _, path := range []string{"/v1/reports/channels", "/v1/reports/leadflow"} {
			params := c.params
			if path == "/v1/reports/leadflow" {
				params = url.Values{}
				for k, v := range c.params {
					if k != "from" && k != "to" {
						params[k] = v
					}
				}
			}
			status, _, body := get(t, srv, path, params, c.token)
			if status != c.status {
				t.Errorf("%s %s: %d %s, want %d", c.name, path, status, body, c.status)
			}
			if strings.Contains(string(body), "yandex") {
				t.Errorf("%s %s: rows leaked: %s", c.name, path, body)
			}
		}
	}
	// other's token sees other's one lead and nothing of net's.
	status, _, body := get(t, srv, "/v1/reports/channels", q(), otherToken)
	a := decodeReport(t, status, body)
	if a.Tenant != "other" || len(a.Rows) != 1 || string(a.Total["revenue"]) != "777" || string(a.Total["cost"]) != "0" {
		t.Fatalf("other: %s", body)
	}
	// The SQL token reads any tenant it names.
	status, _, body = get(t, srv, "/v1/reports/channels", q("tenant", "net"), sqlToken)
	if a := decodeReport(t, status, body); a.Tenant != "net" || string(a.Total["cost"]) != "13500" {
		t.Fatalf("admin: %s", body)
	}
}

func TestLeadFlowByHour(t *testing.T) {
	srv := reportWorld(t)
	status, _, body := get(t, srv, "/v1/reports/leadflow", url.Values{"from": {"2026-03-02"}, "to": {"2026-03-03"}}, netToken)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var a FlowAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	// L1 07:10Z and L4 07:40Z → 10:00 Moscow; L2 08:20Z → 11:00; L3 09:05Z
	// → 12:00 (direct); L5 12:00Z → 15:00 (offline).
	var got []string
	for _, p := range a.Rows {
		got = append(got, fmt.Sprintf("%s %s %d", p.Hour, p.Channel, p.Leads))
	}
	want := []string{
		"2026-03-02T10:00:00+03:00 yandex_direct 2",
		"2026-03-02T11:00:00+03:00 yandex_direct 1",
		"2026-03-02T12:00:00+03:00 direct 1",
		"2026-03-02T15:00:00+03:00 offline 1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || a.Timezone != "Europe/Moscow" {
		t.Fatalf("lead flow %s:\n%s", a.Timezone, strings.Join(got, "\n"))
	}
	status, _, body = get(t, srv, "/v1/reports/leadflow", url.Values{"from": {"2026-03-02T10:00:00+03:00"},
		"to": {"2026-03-02T11:00:00+03:00"}, "account": {"spb"}, "format": {"csv"}}, netToken)
	if status != 200 || string(body) != "hour,channel,leads\n2026-03-02T10:00:00+03:00,yandex_direct,1\n" {
		t.Fatalf("spb csv: %d %q", status, body)
	}
	status, _, _ = get(t, srv, "/v1/reports/leadflow", url.Values{"from": {"2026-01-01"}, "to": {"2026-03-01"}}, netToken)
	if status != 400 {
		t.Fatalf("two months of lead flow: %d, want 400", status)
	}
}

// Without a tenants file the admin token reads any tenant id; no token
// reads nothing, on loopback too (there is no open console).
func TestAdminTokenWithoutTenants(t *testing.T) {
	w := testnet.New(t, engine)
	const admin = "admin-token-0123456789"
	c, err := New(Config{SQLToken: admin}, Deps{Store: engine, Database: w.DB})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	q := url.Values{"tenant": {"any"}, "from": {"2026-03-02"}, "to": {"2026-03-02"}}
	if status, _, body := get(t, srv, "/v1/reports/channels", q, ""); status != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", status, body)
	}
	status, _, body := get(t, srv, "/v1/reports/channels", q, admin)
	if a := decodeReport(t, status, body); len(a.Rows) != 0 {
		t.Fatalf("empty database: %s", body)
	}
	// Without a tenant there is nothing to default to.
	status, _, _ = get(t, srv, "/v1/reports/channels", nil, admin)
	if status != 400 {
		t.Fatalf("no tenant: %d", status)
	}
}
