package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The glass scenario: a network of two windscreen-replacement branches.
// Each gets five visitors — Yandex Direct (a won deal of two windscreens),
// Google organic (an open deal), VK Ads (a lost deal), a direct visit with a
// form and no deal, and a Yandex visit without a form — and Yandex Direct
// spend for the day. Every time and id is fixed when the scenario is made,
// so two deployments fed the same scenario must report the same, cell for
// cell.

const (
	glassReadToken = "rt-glass-network-0123456789"
	glassCHUser    = "glass_ro"
	glassCHPass    = "ch-glass-ro-0123456789abcdef"
)

// glassTenants is the tenants file of the scenario (without the
// clickhouse.admin the distributed deployment adds).
var glassTenants = `tenants:
  - id: glass
    name: Glass Network
    timezone: UTC
    currency: RUB
    margin: 0.4
    pii_salt: 3c1f0a9e7b3d48625c1f0a9e7b3d48625c1f0a9e7b3d48625c1f0a9e7b3d4862
    own_domains: [glass.example]
    read_tokens: [` + glassReadToken + `]
    clickhouse_users:
      - {user: ` + glassCHUser + `, password: ` + glassCHPass + `}
    accounts:
      - id: msk
        site_keys: [sk-glass-msk-0123456789]
        server_keys: [srv-glass-msk-0123456789abcdef]
      - id: spb
        site_keys: [sk-glass-spb-0123456789]
        server_keys: [srv-glass-spb-0123456789abcdef]
`

// glassScenario is the scenario's requests, made once.
type glassScenario struct {
	day    string // the day of every event (UTC)
	steps  []glassStep
	totals map[string]float64 // the report's total row, hand-computed
}

// glassStep is one request to the collector: a path with its query and a
// JSON or CSV body.
type glassStep struct {
	path, key, contentType, body string
}

func newGlassScenario() glassScenario {
	// An hour ago, so that nothing lies in the future; the report asks for
	// that day.
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	if base.Hour() == 23 && base.Minute() > 30 { // keep the scenario's half hour inside one day
		base = base.Add(-40 * time.Minute)
	}
	ms := base.UnixMilli()
	sc := glassScenario{day: base.Format(time.DateOnly)}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for b, branch := range []string{"msk", "spb"} {
		site, srv := "sk-glass-"+branch+"-0123456789", "srv-glass-"+branch+"-0123456789abcdef"
		visitors := []struct{ name, url, referrer, deal string }{
			{"yandex", "https://glass.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=glass_" + branch + "&yclid=", "", "won"},
			{"google", "https://glass.example/windscreens", "https://www.google.com/", "open"},
			{"vk", "https://glass.example/?vkclid=", "", "lost"},
			{"direct", "https://glass.example/", "", ""},
			{"browse", "https://glass.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=glass_" + branch + "&yclid=", "", "-"},
		}
		for i, v := range visitors {
			cid := fmt.Sprintf("glass-%s-%s", branch, v.name)
			t0 := ms + int64(b*100+i*10)*1000
			u := v.url
			if strings.HasSuffix(u, "=") {
				u += cid
			}
			events := []map[string]any{
				{"id": cid + "-1", "type": "pageview", "ts": t0, "client_id": cid, "url": u, "referrer": v.referrer},
				{"id": cid + "-2", "type": "pageview", "ts": t0 + 1000, "client_id": cid, "url": "https://glass.example/prices", "referrer": u},
			}
			if v.deal != "-" {
				events = append(events, map[string]any{"id": cid + "-3", "type": "goal", "name": "form_submit", "ts": t0 + 2000,
					"client_id": cid, "phone": fmt.Sprintf("+7495%03d%04d", b, i)}) // not the load's +7916 numbers
			}
			sc.steps = append(sc.steps, glassStep{"/v1/events", site, "application/json", js(events)})
			if v.deal == "" || v.deal == "-" {
				continue
			}
			lead, deal := "L-"+cid, "D-"+cid
			d := map[string]any{"entity": "deal", "action": "add", "deal_id": deal, "lead_id": lead, "client_id": cid,
				"outcome": v.deal, "amount": "15000.50", "updated_at": t0 + 4000}
			if v.deal == "won" {
				d["items"] = []map[string]any{{"name": "Windscreen Camry XV70", "quantity": 2}}
			}
			sc.steps = append(sc.steps, glassStep{"/v1/hooks/crm/generic", srv, "application/json", js(map[string]any{"changes": []map[string]any{
				{"entity": "lead", "action": "add", "lead_id": lead, "client_id": cid, "updated_at": t0 + 3000}, d}})})
		}
		cost := []string{"5000.00", "3000.50"}[b]
		sc.steps = append(sc.steps, glassStep{"/v1/costs?format=generic&import_id=glass-" + branch, srv, "text/csv",
			"date,channel,source,medium,campaign,cost,clicks,impressions\n" +
				sc.day + ",yandex_direct,yandex,cpc,glass_" + branch + "," + cost + ",40,1000\n"})
	}
	// Two branches: 10 visitors (sessions), 8 form leads, 6 deals of which
	// 2 won (15000.50 and two windscreens each), 8000.50 spent.
	sc.totals = map[string]float64{"sessions": 10, "leads": 8, "leads_form": 8, "deals": 6, "won_deals": 2,
		"revenue": 30001, "units": 4, "cost": 8000.5, "clicks": 80}
	return sc
}

// drive sends the scenario's requests to a collector, one after another.
func (sc glassScenario) drive(t *testing.T, collector string) {
	t.Helper()
	for _, s := range sc.steps {
		req, _ := http.NewRequest("POST", "http://"+collector+s.path, strings.NewReader(s.body))
		req.Header.Set("Content-Type", s.contentType)
		req.Header.Set("X-Write-Key", s.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %s", s.path, resp.StatusCode, b)
		}
	}
}

// glassReportModels are the attribution models the report is compared under.
var glassReportModels = []string{"last_non_direct", "first_click", "last_click", "linear", "time_decay", "position_based"}

// report is the channel report of the scenario's day from a console, as the
// tenant's read token gets it, in format (json or csv), by the dimensions by.
func (sc glassScenario) report(t *testing.T, console, model, format, by string) []byte {
	t.Helper()
	q := url.Values{"from": {sc.day}, "to": {sc.day}, "model": {model}, "format": {format}}
	if by != "" {
		q.Set("by", by)
	}
	req, _ := http.NewRequest("GET", "http://"+console+"/v1/reports/channels?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+glassReadToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("report %s: %d %s", q.Encode(), resp.StatusCode, b)
	}
	return b
}

// waitTotals polls the console's report until its total row is the
// scenario's hand-computed totals.
func (sc glassScenario) waitTotals(t *testing.T, console string, within time.Duration) {
	t.Helper()
	var last map[string]any
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var a struct{ Total map[string]any }
		if err := json.Unmarshal(sc.report(t, console, "last_non_direct", "json", ""), &a); err != nil {
			t.Fatal(err)
		}
		last = a.Total
		done := true
		for k, want := range sc.totals {
			if got, _ := a.Total[k].(float64); got != want {
				done = false
			}
		}
		if done {
			return
		}
	}
	t.Fatalf("console %s: report totals %v, want %v within %v", console, last, sc.totals, within)
}

// TestDistributedMode runs the distributed mode for real on this machine —
// `throughline kafka`, `throughline clickhouse` and the five services as
// separate processes configured by docker-compose.yml, two stitchers and
// two loaders as `--scale` would run them — drives the glass scenario
// through it and through the all-in-one binary, and compares their channel
// reports cell for cell under every model. Then, under load, it SIGKILLs one
// stitcher and one loader, restarts them, and counts through ClickHouse's
// HTTP interface that every acknowledged event, session and lead is there
// exactly once.
func TestDistributedMode(t *testing.T) {
	built := time.Now()
	buildServices(t)
	t.Logf("service binaries built in %v", time.Since(built).Round(time.Millisecond))
	began := time.Now()
	sc := newGlassScenario()
	c := startCluster(t, glassTenants, map[string]int{"stitcher": 2, "loader": 2})
	all := newNode(t)
	if err := os.WriteFile(filepath.Join(all.dataDir, "tenants.yaml"),
		[]byte(fmt.Sprintf("clickhouse:\n  admin: {user: %s, password: %s}\n%s", c.chUser, c.chPassword, glassTenants)), 0o600); err != nil {
		t.Fatal(err)
	}
	all.start()
	t.Logf("started: %d processes and the all-in-one in %v", len(c.procs), time.Since(began).Round(time.Millisecond))

	sc.drive(t, c.addr("collector"))
	sc.drive(t, all.collector)
	driven := time.Now()
	sc.waitTotals(t, all.console, 60*time.Second)
	t.Logf("all-in-one: the report's totals are the scenario's %v after it was sent", time.Since(driven).Round(time.Millisecond))
	sc.waitTotals(t, c.addr("console"), 60*time.Second)
	t.Logf("distributed: the report's totals are the scenario's %v after it was sent", time.Since(driven).Round(time.Millisecond))
	compared := 0
	for _, model := range glassReportModels {
		for _, format := range []string{"json", "csv"} {
			for _, by := range []string{"", "account,campaign"} {
				want, got := sc.report(t, all.console, model, format, by), sc.report(t, c.addr("console"), model, format, by)
				if !bytes.Equal(want, got) {
					t.Fatalf("channel report (model %s, %s, by %q) differs:\nall-in-one:  %s\ndistributed: %s", model, format, by, want, got)
				}
				compared++
			}
		}
	}
	csv := sc.report(t, c.addr("console"), "last_non_direct", "csv", "")
	t.Logf("glass scenario: %d channel reports equal byte for byte (%d cells in the CSV of last_non_direct) after %v",
		compared, bytes.Count(csv, []byte(","))+bytes.Count(csv, []byte("\n")), time.Since(began).Round(time.Millisecond))
	// The dashboard's Connect your BI panel: the address Compose tells the
	// console (the HTTP port it publishes) and the tenant's read-only user;
	// the all-in-one names its own listener.
	for _, p := range []struct{ console, url string }{
		{c.addr("console"), c.compose["console"].Environment["THROUGHLINE_CONSOLE_CLICKHOUSE_URL"]},
		{all.console, "http://" + all.chhttpAddr()},
	} {
		var bi struct{ URL, User, Password, Scope string }
		getJSON(t, "http://"+p.console+"/v1/dashboard/bi", glassReadToken, &bi)
		if bi.URL != p.url || p.url == "http://" || bi.User != glassCHUser || bi.Password != glassCHPass || bi.Scope != "tenant" {
			t.Errorf("console %s: Connect your BI shows %+v, want %s as %s", p.console, bi, p.url, glassCHUser)
		}
	}
	all.stop()

	// Under load, SIGKILL a stitcher and a loader, and start them again.
	s := newSender(c.addr("collector"), []string{"srv-glass-msk-0123456789abcdef", "srv-glass-spb-0123456789abcdef"}, "dist")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop := make(chan struct{})
	wg := s.run(ctx, stop, 3)
	for _, name := range []string{"stitcher-1", "loader-1"} {
		time.Sleep(700 * time.Millisecond)
		for deadline := time.Now().Add(2 * time.Second); s.inFlight.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		c.procs[name].kill()
		t.Logf("%s SIGKILLed after %d batches acknowledged", name, s.acknowledged())
		c.restart(name)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("batches were not acknowledged within 60 s")
	}
	s.mu.Lock()
	acked, clients := s.acked, s.clients
	s.mu.Unlock()
	if len(clients) < 50 {
		t.Fatalf("only %d visitors acknowledged: the load did not run", len(clients))
	}
	// Counted through ClickHouse's HTTP interface, as the admin.
	mine := "tenant = 'glass' AND startsWith(event_id, 'dist-')"
	c.waitValue("SELECT uniqExact(event_id) FROM events WHERE "+mine, fmt.Sprint(len(acked)), 60*time.Second)
	in := "tenant = 'glass' AND startsWith(client_id, 'dist-')"
	c.waitValue("SELECT count() FROM leads_latest WHERE "+in, fmt.Sprint(len(clients)), 60*time.Second)
	c.waitValue("SELECT count() FROM sessions_latest WHERE "+in, fmt.Sprint(len(clients)), 10*time.Second)
	counts := map[string]string{}
	for name, q := range map[string]string{
		"events":                   "SELECT count() FROM events WHERE " + mine,
		"events_distinct":          "SELECT uniqExact(event_id) FROM events WHERE " + mine,
		"sessions":                 "SELECT count() FROM sessions_latest WHERE " + in,
		"leads":                    "SELECT count() FROM leads_latest WHERE " + in,
		"session_hits":             "SELECT sum(hits) FROM sessions_latest WHERE " + in,
		"session_rows_doubled":     "SELECT count() - uniqExact(session_id, version) FROM sessions WHERE " + in,
		"lead_rows_doubled":        "SELECT count() - uniqExact(lead_id, version) FROM leads WHERE " + in,
		"entity_offsets_doubled":   "SELECT count() - uniqExact(_topic, _partition, _offset) FROM sessions WHERE tenant = 'glass'",
		"visitors_with_two_leads":  "SELECT count() FROM (SELECT client_id FROM leads_latest WHERE " + in + " GROUP BY client_id HAVING count() != 1)",
		"dead_letters_of_the_load": "SELECT count() FROM dead_letters WHERE position(payload, 'dist-') > 0",
	} {
		counts[name] = c.value(q)
	}
	t.Logf("after SIGKILL of stitcher-1 and loader-1: %d events and %d visitors acknowledged; in ClickHouse: %v; wall time %v",
		len(acked), len(clients), counts, time.Since(began).Round(time.Millisecond))
	want := map[string]string{
		"events": fmt.Sprint(len(acked)), "events_distinct": fmt.Sprint(len(acked)),
		"sessions": fmt.Sprint(len(clients)), "leads": fmt.Sprint(len(clients)), "session_hits": fmt.Sprint(3 * len(clients)),
		"session_rows_doubled": "0", "lead_rows_doubled": "0", "entity_offsets_doubled": "0",
		"visitors_with_two_leads": "0", "dead_letters_of_the_load": "0",
	}
	for k, w := range want {
		if counts[k] != w {
			t.Errorf("%s = %s, want %s", k, counts[k], w)
		}
	}
}

// acknowledged is how many batches the sender got acknowledged so far.
func (s *sender) acknowledged() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// getJSON GETs u with a Bearer token and decodes the 200 answer into v.
func getJSON(t *testing.T, u, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
}
