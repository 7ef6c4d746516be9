package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/cdptest"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console"
	"github.com/throughline/throughline/services/console/dashboard"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

const connectorTenants = `
tenants:
  - id: net
    timezone: Europe/Moscow
    read_tokens: [` + netToken + `]
    cost_connectors:
      - {provider: vk_ads, account_id: "42", token_env: DASH_TEST_TOKEN}
    accounts:
      - id: msk
        cost_connectors:
          - {provider: yandex_direct, token_env: DASH_TEST_TOKEN}
      - id: spb
        cost_connectors:
          - {provider: yandex_direct, name: yd-spb, token_env: DASH_TEST_TOKEN}
  - id: other
    read_tokens: [` + otherToken + `]
    accounts: [{id: x1}]
`

// connectorsConsole serves the dashboard over connectorTenants with status
// handler h (nil: none, as a console apart from the collectors).
func connectorsConsole(t *testing.T, h http.Handler) *env {
	return connectorsConsoleWithAlerts(t, h, nil)
}

func connectorsConsoleWithAlerts(t *testing.T, h, alerts http.Handler) *env {
	t.Helper()
	t.Setenv("DASH_TEST_TOKEN", "y0_dashboard-test")
	ten, err := tenants.Parse([]byte(connectorTenants))
	if err != nil {
		t.Fatal(err)
	}
	w := testnet.New(t, engine)
	c, err := console.New(console.Config{SQLToken: sqlToken}, console.Deps{Store: engine, Tenants: ten, Database: w.DB, CostConnectors: h, Alerts: alerts})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL}
}

// TestCostConnectorsFromTheCollector: the collector's status handler is
// asked for the token's tenant (and branch) only, without the token, and
// its answer reaches the page as it is.
func TestCostConnectorsFromTheCollector(t *testing.T) {
	var asked []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RawQuery+" auth="+r.Header.Get("Authorization"))
		json.NewEncoder(w).Encode(map[string]any{"tenant": r.URL.Query().Get("tenant"), "state": "pulling",
			"connectors": []map[string]any{{"account": "msk", "connector": "yandex_direct", "last_success": 1, "next_run": 2}}})
	})
	e := connectorsConsole(t, h)
	var v struct {
		Tenant, State string
		Connectors    []struct{ Account, Connector string }
	}
	if status := e.getJSON("/v1/dashboard/costs/connectors", netToken, &v); status != 200 || v.State != "pulling" || v.Tenant != "net" ||
		len(v.Connectors) != 1 {
		t.Fatalf("%d %+v", status, v)
	}
	e.getJSON("/v1/dashboard/costs/connectors?account=spb", netToken, &v)
	if status, _ := e.get("/v1/dashboard/costs/connectors?tenant=net", otherToken); status != http.StatusForbidden {
		t.Fatalf("another tenant's connectors: %d", status)
	}
	if status, _ := e.get("/v1/dashboard/costs/connectors?account=x1", netToken); status != http.StatusNotFound {
		t.Fatalf("another tenant's branch: %d", status)
	}
	want := []string{"tenant=net auth=", "account=spb&tenant=net auth="}
	if len(asked) != len(want) || asked[0] != want[0] || asked[1] != want[1] {
		t.Fatalf("the collector was asked %q, want %q", asked, want)
	}
}

// TestCostConnectorsWithoutTheCollector: a console apart from the
// collectors lists the tenant's connectors from the tenants file (central
// first, then per branch), says the status is unavailable, and filters by
// branch.
func TestCostConnectorsWithoutTheCollector(t *testing.T) {
	e := connectorsConsole(t, nil)
	var v dashboard.ConnectorsView
	e.getJSON("/v1/dashboard/costs/connectors", netToken, &v)
	want := []dashboard.ConnectorInfo{
		{Connector: "vk_ads", Provider: "vk_ads", Channel: "vk_ads"},
		{Account: "msk", Connector: "yandex_direct", Provider: "yandex_direct", Channel: "yandex_direct"},
		{Account: "spb", Connector: "yd-spb", Provider: "yandex_direct", Channel: "yandex_direct"},
	}
	if v.Tenant != "net" || v.State != "unavailable" || len(v.Connectors) != len(want) {
		t.Fatalf("%+v", v)
	}
	for i := range want {
		if v.Connectors[i] != want[i] {
			t.Fatalf("connector %d: %+v, want %+v", i, v.Connectors[i], want[i])
		}
	}
	v = dashboard.ConnectorsView{}
	if e.getJSON("/v1/dashboard/costs/connectors?account=spb", netToken, &v); len(v.Connectors) != 2 || v.Connectors[1].Account != "spb" {
		t.Fatalf("spb's: %+v", v)
	}
	v = dashboard.ConnectorsView{}
	if e.getJSON("/v1/dashboard/costs/connectors", otherToken, &v); v.Tenant != "other" || len(v.Connectors) != 0 {
		t.Fatalf("other's: %+v", v)
	}
}

// TestCostConnectorsPanelInChromium: the page shows each connector's last
// pull and next run, a failing one's error, and marks the connector whose
// costs_missing alert is active (the alert names it in its labels).
func TestCostConnectorsPanelInChromium(t *testing.T) {
	b := cdptest.Start(t)
	last, next := time.Date(2026, 12, 7, 0, 30, 0, 0, time.UTC).UnixMilli(), time.Date(2026, 12, 8, 0, 30, 0, 0, time.UTC).UnixMilli()
	status := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"tenant": "net", "state": "pulling", "connectors": []map[string]any{
			{"account": "", "connector": "vk_ads", "provider": "vk_ads", "channel": "vk_ads", "last_success": last, "next_run": next,
				"from": "2026-11-30", "to": "2026-12-06", "rows": 7},
			{"account": "msk", "connector": "yandex_direct", "provider": "yandex_direct", "channel": "yandex_direct",
				"last_error": "yandex_direct: error 53: invalid token", "last_error_at": last, "next_run": next},
			{"account": "spb", "connector": "yd-spb", "provider": "yandex_direct", "channel": "yandex_direct", "last_success": last - 864e5},
		}})
	})
	alerts := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"tenant": "net", "state": "live", "recent": []any{}, "active": []map[string]any{
			{"id": "c1", "tenant": "net", "account": "spb", "rule": "costs-missing", "kind": "costs_missing", "severity": "warning",
				"subject": "yd-spb", "status": "firing", "title": "spend of 2026-12-06 from yandex_direct did not arrive",
				"labels": map[string]string{"connector": "yd-spb", "channel": "yandex_direct", "day": "2026-12-06"}, "fired_at": last},
		}})
	})
	e := connectorsConsoleWithAlerts(t, status, alerts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Navigate(ctx, e.url+"/dashboard/", ""); err != nil {
		t.Fatal(err)
	}
	if err := tab.Eval(ctx, `document.getElementById('token').value = '`+netToken+`'; document.getElementById('login').requestSubmit()`, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, tab, `document.querySelectorAll('#cost-connectors tbody tr[data-connector]').length === 3`)
	var rows [][]string
	if err := tab.Eval(ctx, `[...document.querySelectorAll('#cost-connectors tbody tr')].map((r) =>
		[r.dataset.connector, r.dataset.missing, ...[...r.cells].map((c) => c.textContent)])`, &rows); err != nil {
		t.Fatal(err)
	}
	var fmtLast, fmtNext string
	tab.Eval(ctx, `fmtTime(`+strconv.FormatInt(last, 10)+`, true)`, &fmtLast)
	tab.Eval(ctx, `fmtTime(`+strconv.FormatInt(next, 10)+`, true)`, &fmtNext)
	want := [][]string{
		{"/vk_ads", "0", "network", "vk_ads", fmtLast, fmtNext, "ok · 2026-11-30…2026-12-06"},
		{"msk/yandex_direct", "0", "msk", "yandex_direct", "—", fmtNext, "failing: yandex_direct: error 53: invalid token"},
		{"spb/yd-spb", "1", "spb", "yd-spb (yandex_direct)", "", "—", "costs_missing: spend of 2026-12-06 from yandex_direct did not arrive"},
	}
	if len(rows) != len(want) || fmtLast == "" {
		t.Fatalf("rows %q", rows)
	}
	for i := range want {
		if i == 2 {
			want[i][4] = rows[i][4] // a day earlier than fmtLast: any formatted time
		}
		if fmt.Sprint(rows[i]) != fmt.Sprint(want[i]) {
			t.Errorf("row %d: %q, want %q", i, rows[i], want[i])
		}
	}
}
