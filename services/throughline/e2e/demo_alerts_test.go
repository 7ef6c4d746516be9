package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/contract/alert"
	"github.com/throughline/throughline/services/throughline/internal/demo"
)

// compressedAlertRules replace the demo's rules (the demo writes its own
// only when default.yaml is missing) with windows for a story compressed
// into a minute. No cooldown: a lull in the ramp-up that fires before the
// silence must not hold back the incident of the silence itself.
const compressedAlertRules = `rules:
  - name: no-leads-paid-channel
    kind: no_leads
    scope: tenant_channel
    channels: [yandex_direct]
    window: 20s
    max_silence: 20s
    business_hours: false
    cooldown: 0s
  - name: won-without-amount
    window: 30m
    cooldown: 0s
`

// storyAlert is an alert as GET /v1/alerts lists it: the alert record.
type storyAlert = alert.Record

// `throughline demo`'s alert story, compressed into a minute of a two-branch
// network: Yandex Direct goes silent and comes back, Saint Petersburg's
// amoCRM sends won deals without amounts until its managers enter them.
// Both alerts fire and resolve — as the console's GET /v1/alerts (with the
// tenant's read token) and the alerts table tell — and the demo's receiver,
// the delivery target the demo wrote into the tenant's rules file, logs
// each as a "demo alert".
func TestDemoAlertsFireAndResolve(t *testing.T) {
	n := newNode(t)
	tc := demo.Tenants(1, 2) // moscow (Bitrix24), saint-petersburg (amoCRM)
	if err := demo.WriteTenantsFile(filepath.Join(n.dataDir, "tenants.yaml"), tc); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(n.dataDir, "alerts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.dataDir, "alerts", "default.yaml"), []byte(compressedAlertRules), 0o644); err != nil {
		t.Fatal(err)
	}
	receiver := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	start := time.Now()
	n.startAs("demo", "--demo-crm-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--demo-alerts-addr", receiver,
		"--demo-backfill", "0", "--demo-rate", "50", "--demo-crm-trickle", "20s", "--demo-costs-every", "1m", "--demo-summary-every", "1h",
		"--demo-silent-channel", "yandex_direct", "--demo-silence-at", "40s", "--demo-silence-for", "40s",
		"--demo-no-amounts-branch", "saint-petersburg", "--demo-no-amounts-at", "35s", "--demo-no-amounts-for", "25s",
		"--alerter-idle-lag", "5s", "--alerter-tick", "1s")
	t.Logf("ready after %v", time.Since(start).Round(time.Millisecond))

	b, err := os.ReadFile(filepath.Join(n.dataDir, "alerts", "demo-network.yaml"))
	if err != nil || !strings.Contains(string(b), "url: http://"+receiver+"/demo-alerts") {
		t.Fatalf("the demo network's target file (%v):\n%s", err, b)
	}

	// Poll the console as the dashboard does until both incidents of the
	// story resolved: after the channel was back and the amounts entered,
	// as the demo's throughline_demo_story_timestamp_seconds tells.
	// Incidents are in event time, which stands up to the idle lag (5s) and
	// a tick of the alerter (1s) behind the wall clock of the story.
	const slack = 6 * time.Second
	token := tc.Tenants[0].ReadTokens[0]
	var silence, amounts *storyAlert
	var story map[string]time.Time
	deadline := time.Now().Add(150 * time.Second)
	for silence == nil || amounts == nil {
		if time.Now().After(deadline) {
			t.Fatalf("not both alerts resolved (silence %+v, amounts %+v):\n%s", silence, amounts, tail(n.logs.String(), 6000))
		}
		time.Sleep(time.Second)
		story = n.storyTimes(t)
		back, entered := story["channel silent ends"], story["no deal amounts ends"]
		for _, a := range n.alerts(t, token) {
			resolved := time.UnixMilli(a.ResolvedAt)
			switch {
			case a.Status != "resolved":
			case a.Rule == "no-leads-paid-channel" && a.Subject == "yandex_direct" && silence == nil &&
				!back.IsZero() && !resolved.Before(back.Add(-slack)):
				silence = &a
				t.Logf("no leads from yandex_direct resolved after %v: %s", time.Since(start).Round(time.Second), a.Summary)
			case a.Rule == "won-without-amount" && a.Account == "saint-petersburg" && amounts == nil &&
				!entered.IsZero() && !resolved.Before(entered.Add(-slack)):
				amounts = &a
				t.Logf("won without amount resolved after %v: %s", time.Since(start).Round(time.Second), a.Summary)
			}
		}
	}
	// The incidents were open while the story happened.
	silent, back := story["channel silent begins"], story["channel silent ends"]
	stop := story["no deal amounts begins"]
	if fired := time.UnixMilli(silence.FiredAt); fired.After(back) || time.UnixMilli(silence.ResolvedAt).Sub(silent) < 20*time.Second {
		t.Errorf("silence %v..%v, incident %v..%v", silent, back, fired, time.UnixMilli(silence.ResolvedAt))
	}
	if fired := time.UnixMilli(amounts.FiredAt); stop.IsZero() || fired.Before(stop.Add(-slack)) {
		t.Errorf("outage from %v, incident fired at %v", stop, fired)
	}

	// The receiver logged each notification (its logs are what it is for:
	// an assertion on its output, not a synchronisation).
	logs := n.logs.String()
	for _, want := range []string{
		`"event":"firing","tenant":"demo-network","account":"","rule":"no-leads-paid-channel"`,
		`"event":"resolved","tenant":"demo-network","account":"","rule":"no-leads-paid-channel"`,
		`"event":"firing","tenant":"demo-network","account":"saint-petersburg","rule":"won-without-amount"`,
		`"event":"resolved","tenant":"demo-network","account":"saint-petersburg","rule":"won-without-amount"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the demo's receiver did not log %s", want)
		}
	}
	// At least: with no cooldown a lull of the ramp-up may fire and resolve
	// another no-leads incident before the silence (see compressedAlertRules).
	if c := strings.Count(logs, `"message":"demo alert"`); c < 4 {
		t.Errorf("%d demo alert lines", c)
	}

	// History: the alerts table has both incidents, resolved.
	n.waitCount(`SELECT uniqExact(rule) FROM throughline.alerts_latest WHERE tenant = 'demo-network' AND status = 'resolved'
  AND (rule = 'no-leads-paid-channel' AND subject = 'yandex_direct' OR rule = 'won-without-amount' AND account = 'saint-petersburg')`,
		2, 30*time.Second)
	t.Logf("whole story in %v", time.Since(start).Round(time.Second))
}

// alerts reads GET /v1/alerts through the console with a read token.
func (n *node) alerts(t *testing.T, token string) []storyAlert {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.console+"/v1/alerts?tenant=demo-network", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Active, Recent []storyAlert
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/alerts: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return append(v.Active, v.Recent...)
}

// storyTimes are the times of the demo's story steps so far, as its gauge
// throughline_demo_story_timestamp_seconds on /metrics has them, by
// "<episode> <phase>" ("channel silent begins", "no deal amounts ends").
func (n *node) storyTimes(t *testing.T) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for _, s := range n.metrics(t, "throughline_demo_story_timestamp_seconds") {
		out[s.labels["episode"]+" "+s.labels["phase"]] = time.UnixMilli(int64(math.Round(s.value * 1000)))
	}
	return out
}

// series is one series of a metric on /metrics.
type series struct {
	labels map[string]string
	value  float64
}

// metrics reads the series of metric name from the node's /metrics (the
// collector's listener serves the process's metrics).
func (n *node) metrics(t *testing.T, name string) []series {
	t.Helper()
	resp, err := http.Get("http://" + n.collector + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []series
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			t.Fatalf("metrics line %q", line)
		}
		s := series{labels: map[string]string{}}
		for _, kv := range strings.Split(labels, `",`) {
			k, v, _ := strings.Cut(kv, `="`)
			s.labels[k] = strings.TrimSuffix(v, `"`)
		}
		if _, err := fmt.Sscan(value, &s.value); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}
