package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/schemas"
	"github.com/throughline/throughline/services/console"
	"github.com/throughline/throughline/services/console/dashboard"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

var tenantPaths = []string{
	"/v1/dashboard/tenant", "/v1/dashboard/leads/stream", "/v1/dashboard/leads/recent",
	"/v1/dashboard/deadletters", "/v1/dashboard/costs/connectors", "/v1/alerts",
}

// TestEveryRequestIsCheckedPerTenant: without a token nothing is read; a
// tenant's token reads that tenant only; the admin (SQL) token reads any.
func TestEveryRequestIsCheckedPerTenant(t *testing.T) {
	e := newEnv(t)
	for _, p := range tenantPaths {
		if status, _ := e.get(p+"?tenant=net", ""); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", p, status)
		}
		if status, _ := e.get(p+"?tenant=net", "wrong-token-0123456789"); status != http.StatusUnauthorized {
			t.Errorf("GET %s with an unknown token: %d, want 401", p, status)
		}
		if status, _ := e.get(p+"?tenant=other", netToken); status != http.StatusForbidden {
			t.Errorf("GET %s of another tenant: %d, want 403", p, status)
		}
		if status, _ := e.get(p+"?account=x1", netToken); status != http.StatusNotFound {
			t.Errorf("GET %s of another tenant's branch: %d, want 404", p, status)
		}
	}
	// The page itself holds no data and needs no token.
	status, body := e.get("/dashboard/", "")
	if status != http.StatusOK || !strings.Contains(string(body), "Throughline dashboard") {
		t.Fatalf("GET /dashboard/: %d", status)
	}

	var info dashboard.TenantInfo
	if e.getJSON("/v1/dashboard/tenant", netToken, &info); info.Tenant != "net" || info.Timezone != "Europe/Moscow" ||
		len(info.Accounts) != 2 || info.Accounts[1].Name != "Saint Petersburg" || info.Alerts != "alerter" || info.Live != dashboard.LiveOn {
		t.Fatalf("tenant info %+v", info)
	}
	var dead dashboard.DeadLetters
	e.getJSON("/v1/dashboard/deadletters?from=2026-03-01&to=2026-03-03", otherToken, &dead)
	if dead.Tenant != "other" || len(dead.Sources) != 1 || dead.Sources[0].Source != "crm:bitrix24" || dead.Sources[0].Count != 1 {
		t.Fatalf("other's dead letters %+v", dead)
	}
	e.getJSON("/v1/dashboard/deadletters?from=2026-03-02&to=2026-03-02&account=msk", netToken, &dead)
	if len(dead.Sources) != 2 || dead.Sources[0] != (dashboard.DeadLetterSource{Source: "calls:mango", Count: 1,
		Last: time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC).UnixMilli(), LastReason: "signature mismatch"}) || dead.Sources[1].Count != 1 {
		t.Fatalf("msk's dead letters %+v", dead)
	}
	var recent dashboard.RecentLeads
	e.getJSON("/v1/dashboard/leads/recent?limit=3", netToken, &recent)
	if len(recent.Leads) != 3 || recent.Leads[0].LeadID != "L5" || recent.Leads[0].Revenue != 30000 || recent.Leads[0].Account != "spb" {
		t.Fatalf("net's recent leads %+v", recent.Leads)
	}
	if e.getJSON("/v1/dashboard/leads/recent", otherToken, &recent); len(recent.Leads) != 0 {
		t.Fatalf("other's recent leads %+v", recent.Leads)
	}
	if status := e.getJSON("/v1/dashboard/tenant?tenant=other", sqlToken, &info); status != 200 || info.Tenant != "other" {
		t.Fatalf("admin token: %d %+v", status, info)
	}
	if status, _ := e.get("/v1/dashboard/leads/recent?limit=1000", netToken); status != http.StatusBadRequest {
		t.Fatalf("limit over the bound: %d", status)
	}
	if status, _ := e.get("/v1/dashboard/deadletters?from=yesterday", netToken); status != http.StatusBadRequest {
		t.Fatalf("a bad date: %d", status)
	}
}

// sse is a server-sent event stream read by a test.
type sse struct {
	resp   *http.Response
	events chan [2]string // event, data
}

func openStream(t *testing.T, e *env, token, query string) *sse {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/v1/dashboard/leads/stream?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{resp: resp, events: make(chan [2]string, 100)}
	go func() {
		defer close(s.events)
		r := bufio.NewReader(resp.Body)
		var ev, data string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				if ev != "" {
					s.events <- [2]string{ev, data}
				}
				ev, data = "", ""
			case strings.HasPrefix(line, "event: "):
				ev = line[7:]
			case strings.HasPrefix(line, "data: "):
				data += line[6:]
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

func (s *sse) next(t *testing.T) (string, string) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev[0], ev[1]
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15 s")
	}
	return "", ""
}

// TestStreamsCarryTheirTenantsLeadsOnly reads the stream as two tenants and
// as one branch, and checks that stopping the console ends open streams
// at once rather than at the shutdown timeout.
func TestStreamsCarryTheirTenantsLeadsOnly(t *testing.T) {
	e := newEnv(t)
	net := openStream(t, e, netToken, "")
	spb := openStream(t, e, netToken, "account=spb")
	other := openStream(t, e, otherToken, "tenant=other")
	for _, s := range []*sse{net, spb, other} {
		if ev, data := s.next(t); ev != "hello" || !strings.Contains(data, `"live":"live"`) {
			t.Fatalf("first event %s %s", ev, data)
		}
	}
	e.lead("other", "x1", "o-1", "vk_ads", "vk", "cpc")
	produced := time.Now()
	e.lead("net", "msk", "n-1", "google_ads", "google", "cpc")
	e.lead("net", "spb", "n-2", "yandex_direct", "yandex", "cpc")

	var got []string
	for i := range 2 {
		ev, data := net.next(t)
		if i == 0 {
			t.Logf("lead produced → event on the stream: %v", time.Since(produced).Round(time.Millisecond))
		}
		var l dashboard.LiveLead
		if err := json.Unmarshal([]byte(data), &l); ev != "lead" || err != nil {
			t.Fatalf("event %s %s", ev, data)
		}
		got = append(got, l.Account+"/"+l.LeadID+"/"+l.Channel)
	}
	if fmt.Sprint(got) != "[msk/n-1/google_ads spb/n-2/yandex_direct]" {
		t.Fatalf("net's stream: %v", got)
	}
	if ev, data := spb.next(t); ev != "lead" || !strings.Contains(data, `"lead_id":"n-2"`) {
		t.Fatalf("spb's stream: %s %s", ev, data)
	}
	if ev, data := other.next(t); ev != "lead" || !strings.Contains(data, `"lead_id":"o-1"`) {
		t.Fatalf("other's stream: %s %s", ev, data)
	}
	select {
	case ev := <-other.events:
		t.Fatalf("other's stream got a second event: %v", ev)
	case <-time.After(300 * time.Millisecond):
	}

	// The metrics the docs name.
	_, metrics := e.get("/metrics", "")
	for _, m := range []string{"console_dashboard_streams", "console_dashboard_live_leads_total"} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics has no %s", m)
		}
	}

	start := time.Now()
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("stopping the console with open streams took %v", took)
	}
	for _, s := range []*sse{net, spb, other} {
		for range s.events {
		}
	}
}

// TestWithoutKafkaOrAlerter: a console without a live feed and without the
// alerter says so, and reads alerts from the alerts table once there is one.
func TestWithoutKafkaOrAlerter(t *testing.T) {
	ten, err := tenants.Parse([]byte(testTenants))
	if err != nil {
		t.Fatal(err)
	}
	w := testnet.New(t, engine)
	c, err := console.New(console.Config{SQLToken: sqlToken}, console.Deps{Store: engine, Tenants: ten, Database: w.DB})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, url: srv.URL}

	var info dashboard.TenantInfo
	if e.getJSON("/v1/dashboard/tenant", netToken, &info); info.Live != dashboard.LiveOff {
		t.Fatalf("live state %q, want off", info.Live)
	}
	if status, body := e.get("/v1/dashboard/leads/stream", netToken); status != http.StatusServiceUnavailable || !strings.Contains(string(body), "no Kafka") {
		t.Fatalf("stream without Kafka: %d %s", status, body)
	}
	// Without the alerts table: no alert source.
	w.Query("DROP VIEW %s.alerts_latest", w.DB)
	w.Query("DROP TABLE %s.alerts", w.DB)
	var view dashboard.AlertsView
	e.getJSON("/v1/dashboard/tenant", netToken, &info)
	if e.getJSON("/v1/alerts", netToken, &view); view.State != "unavailable" || info.Alerts != "none" {
		t.Fatalf("no alert source: %+v, info says %q", view, info.Alerts)
	}
	// The table back, as its migration makes it.
	migs, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	recreated := false
	for _, m := range migs {
		if m.Name != "alerts" {
			continue
		}
		for _, stmt := range m.Statements(w.DB) {
			if err := engine.Exec(context.Background(), stmt, nil); err != nil {
				t.Fatal(err)
			}
		}
		recreated = true
	}
	if !recreated {
		t.Fatal("no alerts migration")
	}
	now := time.Now().UTC()
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	rows := []map[string]any{
		{"id": "a1", "version": 1, "tenant": "net", "account": "msk", "rule": "channel-silence", "kind": "no_leads", "severity": "critical",
			"status": "firing", "title": "no leads from yandex_direct", "fired_at": ms(-time.Hour), "recorded_at": ms(-time.Hour)},
		{"id": "a2", "version": 1, "tenant": "net", "account": "spb", "rule": "missed-calls", "status": "firing",
			"title": "missed calls", "fired_at": ms(-3 * time.Hour), "recorded_at": ms(-3 * time.Hour)},
		{"id": "a2", "version": 2, "tenant": "net", "account": "spb", "rule": "missed-calls", "status": "resolved",
			"title": "missed calls", "fired_at": ms(-3 * time.Hour), "resolved_at": ms(-2 * time.Hour), "recorded_at": ms(-2 * time.Hour)},
		{"id": "a3", "version": 1, "tenant": "other", "account": "x1", "rule": "cpl", "status": "firing",
			"title": "CPL spike", "fired_at": ms(-time.Hour), "recorded_at": ms(-time.Hour)},
		{"id": "a4", "version": 2, "tenant": "net", "account": "msk", "rule": "cpl", "status": "resolved", "title": "CPL spike",
			"fired_at": ms(-40 * time.Hour), "resolved_at": ms(-30 * time.Hour), "recorded_at": ms(-30 * time.Hour)},
	}
	var lines []string
	for _, r := range rows {
		for _, k := range []string{"fired_at", "resolved_at", "recorded_at"} {
			if v, ok := r[k].(int64); ok {
				r[k] = time.UnixMilli(v).UTC().Format("2006-01-02 15:04:05.000")
			}
		}
		b, _ := json.Marshal(r)
		lines = append(lines, string(b))
	}
	if err := engine.Exec(context.Background(), fmt.Sprintf("INSERT INTO %s.alerts SETTINGS input_format_skip_unknown_fields = 1 FORMAT JSONEachRow %s", w.DB, strings.Join(lines, "\n")), nil); err != nil {
		t.Fatal(err)
	}
	if e.getJSON("/v1/dashboard/tenant", netToken, &info); info.Alerts != "table" {
		t.Fatalf("alert source %q, want table", info.Alerts)
	}
	view = dashboard.AlertsView{}
	e.getJSON("/v1/alerts", netToken, &view)
	if view.State != "table" || len(view.Active) != 1 || len(view.Recent) != 1 {
		t.Fatalf("alerts from the table: %+v", view)
	}
	if a := view.Active[0]; a.ID != "a1" || a.Severity != "critical" || a.FiredAt != ms(-time.Hour) || a.ResolvedAt != 0 || a.Account != "msk" {
		t.Fatalf("active alert %+v", a)
	}
	if a := view.Recent[0]; a.ID != "a2" || a.Version != 2 || a.FiredAt != ms(-3*time.Hour) || a.ResolvedAt != ms(-2*time.Hour) {
		t.Fatalf("resolved alert %+v", a)
	}
	view = dashboard.AlertsView{}
	if e.getJSON("/v1/alerts?account=spb", netToken, &view); len(view.Active) != 0 || len(view.Recent) != 1 {
		t.Fatalf("spb's alerts: %+v", view)
	}
}
