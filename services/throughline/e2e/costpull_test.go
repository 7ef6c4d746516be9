package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeDirect answers the Yandex Direct Reports API with a report of the
// requested days: yesterday's spend and the day before's, in micro-units.
type fakeDirect struct {
	mu    sync.Mutex
	spend [2]int64
	pulls int
	to    time.Time // the last report's DateTo: yesterday on the collector's clock
}

// waitPull waits until the fake served more than after reports and returns
// the last one's DateTo and the count. Tests date their expectations by it,
// not by their own clock, so that a pull on one side of midnight and a check
// on the other agree.
func (f *fakeDirect) waitPull(t *testing.T, after int) (to time.Time, pulls int) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		f.mu.Lock()
		to, pulls = f.to, f.pulls
		f.mu.Unlock()
		if pulls > after {
			return to, pulls
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cost connector did not pull within 60s (%d pulls)", pulls)
		}
	}
}

func (f *fakeDirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer y0_e2e-direct-token" {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":{"request_id":"1","error_code":53,"error_string":"Authorization error"}}`)
		return
	}
	var body struct {
		Params struct{ SelectionCriteria struct{ DateTo string } } `json:"params"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	to, err := time.Parse(time.DateOnly, body.Params.SelectionCriteria.DateTo)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	f.pulls++
	f.to = to
	fmt.Fprintf(w, "Date\tCampaignId\tCampaignName\tImpressions\tClicks\tCost\n%s\t7\twindscreens\t100\t10\t%d\n%s\t7\twindscreens\t100\t10\t%d\nTotal rows: 2\n",
		to.Format(time.DateOnly), f.spend[0], to.AddDate(0, 0, -1).Format(time.DateOnly), f.spend[1])
}

// TestCostPullRestatesInClickHouse: a branch's Yandex Direct connector is
// pulled when the binary starts; costs_current shows the spend; Direct
// revises the day before yesterday, the next pull (a restart pulls at
// once) restates it, and costs_current shows the new figure only.
func TestCostPullRestatesInClickHouse(t *testing.T) {
	t.Setenv("E2E_DIRECT_TOKEN", "y0_e2e-direct-token")
	direct := &fakeDirect{spend: [2]int64{1_500_000_000, 2_000_000_000}}
	srv := httptest.NewServer(direct)
	defer srv.Close()
	n := newNode(t)
	tenantsYAML := `tenants:
  - id: pull
    timezone: UTC
    accounts:
      - id: branch
        write_keys: [pull-write-key-001]
        cost_connectors:
          - {provider: yandex_direct, base_url: "` + srv.URL + `", token_env: E2E_DIRECT_TOKEN, restate_days: 3}
`
	if err := os.WriteFile(filepath.Join(n.dataDir, "tenants.yaml"), []byte(tenantsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := func(d string) string {
		return "SELECT sum(amount_minor) FROM throughline.costs_current WHERE tenant = 'pull' AND account = 'branch' AND channel = 'yandex_direct' AND date = '" + d + "'"
	}
	n.start("--collector-cost-pull-spread", "0s")
	to, pulls := direct.waitPull(t, 0)
	day := func(back int) string { return to.AddDate(0, 0, 1-back).Format(time.DateOnly) }
	n.waitCount(sum(day(2)), 200000, 60*time.Second)
	n.waitCount(sum(day(1)), 150000, 10*time.Second)
	n.waitCount("SELECT count() FROM throughline.costs_current WHERE tenant = 'pull' AND date = '"+day(3)+"' AND amount_minor = 0", 1, 10*time.Second)
	n.stop()

	direct.mu.Lock()
	direct.spend[1] = 1_750_000_000
	direct.mu.Unlock()
	n.start("--collector-cost-pull-spread", "0s")
	to, _ = direct.waitPull(t, pulls)
	n.waitCount(sum(day(2)), 175000, 60*time.Second)
	n.waitCount(sum(day(1)), 150000, 10*time.Second)
	n.waitCount("SELECT uniqExact(import_id) FROM throughline.costs WHERE tenant = 'pull' AND kind = 'commit'", 2, 10*time.Second)
}
