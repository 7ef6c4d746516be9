package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestateAppliesNewRulesToHistory: sessions stitched under rules that
// know no search engine are referrals; after a restart with the default
// rules, `throughline restate` re-derives them from the events table, and
// the sessions table's latest versions follow — once each.
func TestRestateAppliesNewRulesToHistory(t *testing.T) {
	n := newNode(t)
	tenant, account, key := "acme", "msk", "restate-e2e-write-key"
	tenantsFile := "tenants:\n  - id: acme\n    accounts:\n      - {id: msk, write_keys: [" + key + "]}\n"
	if err := os.WriteFile(filepath.Join(n.dataDir, "tenants.yaml"), []byte(tenantsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := t.TempDir()
	if err := os.WriteFile(filepath.Join(rules, tenant+".yaml"), []byte("replace: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start("--stitcher-rules-dir", rules)
	from := time.Now().UTC().Add(-time.Minute)
	for i := range 5 {
		q := url.Values{"k": {key}, "cid": {fmt.Sprintf("cid-%d", i)}, "u": {"https://branch.example/"}, "r": {"https://www.google.com/"}}
		resp, err := http.Get("http://" + n.collector + "/px.gif?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	sessions := "SELECT countIf(channel = '%s') FROM throughline.sessions FINAL WHERE deleted = 0"
	n.waitCount(fmt.Sprintf(sessions, "referral"), 5, 20*time.Second)
	n.stop()

	n.start() // the default rules
	out, err := exec.Command(binary, "restate", "--tenant", tenant, "--account", account,
		"--from", from.Format(time.RFC3339), "--console", "http://"+n.console, "--sql-token-file", n.adminTokenFile(),
		"--kafka-brokers", fmt.Sprintf("127.0.0.1:%d", n.kafkaPort), "--wait", "60s").CombinedOutput()
	if err != nil {
		t.Fatalf("restate: %v\n%s\nlogs:\n%s", err, out, tail(n.logs.String(), 4000))
	}
	if !strings.Contains(string(out), "sent 5 hits") || !strings.Contains(string(out), "applied by the stitcher") {
		t.Errorf("restate output:\n%s", out)
	}
	n.waitCount(fmt.Sprintf(sessions, "organic"), 5, 20*time.Second)
	n.waitCount(fmt.Sprintf(sessions, "referral"), 0, time.Second)
	// The run is in the events table: five hits and its start and done marks.
	n.waitCount("SELECT count() FROM throughline.events WHERE type = 'restate'", 7, 10*time.Second)
	n.waitCount("SELECT uniqExact(session_id) FROM throughline.sessions", 5, time.Second)
}
