package demo

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/alerter"
)

// The demo's rules directory: written when missing, loadable by the
// alerter with the demo network's tenants, left alone on the next start,
// its target following the receiver (moved, or off) and never touching a
// target the user pointed elsewhere.
func TestPrepareAlertRules(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "alerts")
	did, err := PrepareAlertRules(dir, "http://127.0.0.1:18096/demo-alerts")
	if err != nil {
		t.Fatal(err)
	}
	if did != "created default.yaml, created demo-network.yaml" {
		t.Errorf("first start did %q", did)
	}
	load := func() {
		t.Helper()
		cfg := alerter.DefaultConfig()
		cfg.RulesDir = dir
		if _, err := alerter.New(cfg, alerter.Deps{Kafka: kafka.Config{Brokers: []string{"127.0.0.1:1"}, Replication: 1}, Tenants: Tenants(1, 20)}); err != nil {
			t.Fatalf("the alerter does not take the demo's rules: %v", err)
		}
	}
	load()
	if did, err := PrepareAlertRules(dir, "http://127.0.0.1:18096/demo-alerts"); err != nil || did != "" {
		t.Errorf("second start did %q, %v", did, err)
	}

	// The receiver moved: the target follows; the file's comments stay.
	did, err = PrepareAlertRules(dir, "http://127.0.0.1:28096/demo-alerts")
	if err != nil || did != "pointed target demo-terminal at http://127.0.0.1:28096/demo-alerts in demo-network.yaml" {
		t.Errorf("moved receiver: did %q, %v", did, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "demo-network.yaml"))
	if !strings.Contains(string(b), "url: http://127.0.0.1:28096/demo-alerts") || !strings.Contains(string(b), "# Alert delivery of the demo network") {
		t.Errorf("retargeted file:\n%s", b)
	}
	load()

	// No receiver: the target goes, the user's own stay.
	user := "  - name: ops\n    type: webhook\n    url: https://ops.example/hook\n"
	if err := os.WriteFile(filepath.Join(dir, "demo-network.yaml"), append(b, user...), 0o644); err != nil {
		t.Fatal(err)
	}
	did, err = PrepareAlertRules(dir, "")
	if err != nil || did != "removed target demo-terminal in demo-network.yaml" {
		t.Errorf("no receiver: did %q, %v", did, err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "demo-network.yaml"))
	if strings.Contains(string(b), "demo-terminal\n") || !strings.Contains(string(b), "https://ops.example/hook") {
		t.Errorf("without the receiver:\n%s", b)
	}
	load()
	if did, err := PrepareAlertRules(dir, "http://127.0.0.1:18096/demo-alerts"); err != nil || did != "" {
		t.Errorf("a file without the demo target got %q, %v", did, err)
	}

	// A target named like the demo's but pointing elsewhere is the user's.
	own := "targets:\n  - name: demo-terminal\n    type: webhook\n    url: https://ops.example/hook\n"
	if err := os.WriteFile(filepath.Join(dir, "demo-network.yaml"), []byte(own), 0o644); err != nil {
		t.Fatal(err)
	}
	if did, err := PrepareAlertRules(dir, "http://127.0.0.1:18096/demo-alerts"); err != nil || did != "" {
		t.Errorf("the user's target got %q, %v", did, err)
	}

	// Without a receiver, a fresh directory gets the rules only.
	dir2 := t.TempDir()
	if did, err := PrepareAlertRules(dir2, ""); err != nil || did != "created default.yaml" {
		t.Errorf("no receiver, fresh dir: did %q, %v", did, err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "demo-network.yaml")); err == nil {
		t.Error("a target file was written without a receiver")
	}
}

// The receiver logs each notification of the generic webhook as a
// "demo alert" line, and refuses what is not one.
func TestAlertReceiver(t *testing.T) {
	r, err := ListenAlerts("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var logs bytes.Buffer
	r.SetLogger(zerolog.New(&logs))
	post := func(body string) int {
		t.Helper()
		resp, err := http.Post(r.URL(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	firing, _ := json.Marshal(map[string]any{"v": 1, "event": "firing", "alert": alerter.Alert{ID: "a1", Version: 1,
		Tenant: "demo-network", Account: "yekaterinburg", Rule: "won-without-amount", Severity: "warning",
		Status: "firing", Title: "deals won without an amount", Summary: "2 deals won in the last 30m have no amount", FiredAt: 1000}})
	resolved, _ := json.Marshal(map[string]any{"v": 1, "event": "resolved", "alert": alerter.Alert{ID: "a1", Version: 2,
		Tenant: "demo-network", Account: "yekaterinburg", Rule: "won-without-amount", Severity: "warning",
		Status: "resolved", Title: "deals won without an amount", FiredAt: 1000, ResolvedAt: 61000}})
	if c := post(string(firing)); c != http.StatusNoContent {
		t.Errorf("firing: %d", c)
	}
	if c := post(string(resolved)); c != http.StatusNoContent {
		t.Errorf("resolved: %d", c)
	}
	if c := post("not json"); c != http.StatusBadRequest {
		t.Errorf("junk: %d", c)
	}
	if r.Received() != 2 {
		t.Errorf("received %d", r.Received())
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines:\n%s", logs.String())
	}
	for i, want := range []string{`"level":"warn","event":"firing"`, `"level":"info","event":"resolved"`} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], `"rule":"won-without-amount"`) ||
			!strings.Contains(lines[i], `"account":"yekaterinburg"`) || !strings.Contains(lines[i], `"message":"demo alert"`) {
			t.Errorf("line %d lacks %s: %s", i, want, lines[i])
		}
	}
	if !strings.Contains(lines[1], `"lasted":60000`) {
		t.Errorf("the resolution does not say how long it lasted: %s", lines[1])
	}

	var none *AlertReceiver
	if none.URL() != "" || none.Close() != nil {
		t.Error("no receiver has a URL")
	}
	if r, err := ListenAlerts(""); r != nil || err != nil {
		t.Errorf("an empty address made %v, %v", r, err)
	}
}
