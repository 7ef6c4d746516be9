package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/twmb/franz-go/pkg/kadm"
)

// fakeDirect answers the Yandex Direct Reports API: first 201 (queued),
// then the report of the requested days, yesterday's spend being
// spend[0] (micro-units) and the day before's spend[1].
type fakeDirect struct {
	mu    sync.Mutex
	spend [2]int64
	calls int
}

func (f *fakeDirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if r.Header.Get("Authorization") != "Bearer y0_collector-test-token" {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"request_id":"1","error_code":53,"error_string":"Authorization error"}}`)
		return
	}
	if f.calls%2 == 1 {
		w.Header().Set("retryIn", "1")
		w.WriteHeader(http.StatusCreated)
		return
	}
	var body struct {
		Params struct {
			SelectionCriteria struct{ DateFrom, DateTo string }
		} `json:"params"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	to, _ := time.Parse(time.DateOnly, body.Params.SelectionCriteria.DateTo)
	fmt.Fprintf(w, "Date\tCampaignId\tCampaignName\tImpressions\tClicks\tCost\n%s\t7\tWindscreens\t100\t10\t%d\n%s\t7\tWindscreens\t100\t10\t%d\nTotal rows: 2\n",
		to.Format(time.DateOnly), f.spend[0], to.AddDate(0, 0, -1).Format(time.DateOnly), f.spend[1])
}

func (f *fakeDirect) set(yesterday, before int64) {
	f.mu.Lock()
	f.spend = [2]int64{yesterday, before}
	f.mu.Unlock()
}

// TestCostPullThroughKafka: a collector with a Yandex Direct connector
// pulls at start (through the 201 "queued" answer), writes the import to
// the costs topic like an upload, counts it in /metrics; when Direct
// revises the day before yesterday, the next pull restates it.
func TestCostPullThroughKafka(t *testing.T) {
	t.Setenv("TEST_COLLECTOR_YD_TOKEN", "y0_collector-test-token")
	direct := &fakeDirect{}
	direct.set(1_500_000_000, 2_000_000_000) // 1500.00 and 2000.00 RUB
	yd := httptest.NewServer(direct)
	defer yd.Close()
	tc := pullTenants(t, yd.URL)
	k := startKafka(t)
	c := startPulling(t, k, tc)
	c.waitMetric(t, okLine+" 1")
	c.waitMetric(t, "throughline_costpull_leader 1")
	if !strings.Contains(c.metrics(t), "throughline_costpull_last_success_seconds{") {
		t.Fatalf("no last success in /metrics:\n%s", grepLines(c.metrics(t), "costpull"))
	}
	// 3 days restated: 2 with spend, 1 zero, then 1 commit.
	rows, commits := costRecords(t, k, 4)
	loc, _ := time.LoadLocation("Europe/Moscow")
	now := time.Now().In(loc)
	day := func(back int) string {
		return time.Date(now.Year(), now.Month(), now.Day()-back, 0, 0, 0, 0, loc).Format(time.DateOnly)
	}
	want := map[string]int64{day(1): 150000, day(2): 200000, day(3): 0}
	if got := sumByDay(rows, commits); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the first pull %v, want %v", got, want)
	}
	if commits[0].Source != "costs:yandex" || commits[0].Account != "moscow" || rows[0].Cost.Channel != "yandex_direct" {
		t.Fatalf("commit %+v row %+v", commits[0], rows[0].Cost)
	}

	direct.set(1_500_000_000, 1_750_000_000) // Direct revises the day before yesterday
	if err := c.c.costs.PullNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, commits = costRecords(t, k, 8)
	want[day(2)] = 175000
	if got := sumByDay(rows, commits); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the revision %v, want %v", got, want)
	}
}

// sumByDay is costs_current per day: the rows of each day's latest
// committed import.
func sumByDay(rows, commits []event.Envelope) map[string]int64 {
	at := map[string]int64{}
	for _, c := range commits {
		at[c.Cost.ImportID] = c.ReceivedAt
	}
	latest := map[string]string{}
	for _, r := range rows {
		if t, ok := at[r.Cost.ImportID]; ok && (latest[r.Cost.Date] == "" || at[latest[r.Cost.Date]] < t) {
			latest[r.Cost.Date] = r.Cost.ImportID
		}
	}
	out := map[string]int64{}
	for _, r := range rows {
		if latest[r.Cost.Date] == r.Cost.ImportID {
			out[r.Cost.Date] += r.Cost.Amount
		}
	}
	return out
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

const okLine = `throughline_costpull_pulls_total{connector="acme/moscow/yandex_direct",provider="yandex_direct",result="ok"}`

func pullTenants(t *testing.T, directURL string) *tenants.Config {
	t.Helper()
	tc, err := tenants.Parse([]byte(`
tenants:
  - id: acme
    currency: RUB
    accounts:
      - id: moscow
        timezone: Europe/Moscow
        write_keys: [` + keyMoscow + `]
        cost_connectors:
          - {provider: yandex_direct, base_url: "` + directURL + `", token_env: TEST_COLLECTOR_YD_TOKEN, client_login: dealer-msk, restate_days: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// pulling is a collector serving on loopback with cost connectors.
type pulling struct {
	c      *Collector
	addr   string
	cancel func()
	served chan error
}

func startPulling(t *testing.T, k *testKafka, tc *tenants.Config) *pulling {
	t.Helper()
	tel, err := telemetry.New(zerolog.Nop(), "collector-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.CostPull.Spread = 0
	c, err := New(cfg, Deps{Tel: tel, Producer: k.producer(t, 1000), Keys: tenants.NewKeys(tc), Tenants: tc})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pulling{c: c, addr: ln.Addr().String(), cancel: cancel, served: make(chan error, 1)}
	go func() { p.served <- c.Serve(ctx, ln) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *pulling) stop(t *testing.T) {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	if err := <-p.served; err != nil && !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}

func (p *pulling) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitMetric waits until /metrics has line (a whole line).
func (p *pulling) waitMetric(t *testing.T, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains("\n"+p.metrics(t)+"\n", "\n"+line+"\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in /metrics:\n%s", line, grepLines(p.metrics(t), "costpull"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCostPullOneLeader: two collectors with the same connectors against
// one Kafka: only the group's leader pulls; when it stops, the other takes
// over and pulls at once.
func TestCostPullOneLeader(t *testing.T) {
	t.Setenv("TEST_COLLECTOR_YD_TOKEN", "y0_collector-test-token")
	direct := &fakeDirect{}
	direct.set(1_000_000, 2_000_000)
	yd := httptest.NewServer(direct)
	defer yd.Close()
	tc := pullTenants(t, yd.URL)
	k := startKafka(t)
	a := startPulling(t, k, tc)
	a.waitMetric(t, "throughline_costpull_leader 1")
	a.waitMetric(t, okLine+" 1")
	b := startPulling(t, k, tc)
	adm := kadm.NewClient(k.client(t))
	deadline := time.Now().Add(30 * time.Second)
	for {
		gs, err := adm.DescribeGroups(context.Background(), CostPullGroup)
		if err == nil && gs[CostPullGroup].State == "Stable" && len(gs[CostPullGroup].Members) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group never had both collectors: %v %v", gs, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.waitMetric(t, "throughline_costpull_leader 1") // the rebalance kept the leader
	b.waitMetric(t, "throughline_costpull_leader 0")
	b.waitMetric(t, okLine+" 0")
	// What the dashboard shows: the leader's last pull and next run, the
	// other standing by with nothing pulled; another tenant sees nothing.
	av, bv := a.c.CostConnectors("acme", ""), b.c.CostConnectors("acme", "moscow")
	for deadline := time.Now().Add(10 * time.Second); len(av.Connectors) == 1 && av.Connectors[0].NextRun == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the next run is set just after the pull is counted
		av = a.c.CostConnectors("acme", "")
	}
	if av.State != "pulling" || len(av.Connectors) != 1 || av.Connectors[0].Connector != "yandex_direct" ||
		av.Connectors[0].Account != "moscow" || av.Connectors[0].LastSuccess == 0 || av.Connectors[0].Rows != 3 ||
		av.Connectors[0].NextRun <= av.Connectors[0].LastSuccess || av.Connectors[0].LastError != "" {
		t.Fatalf("leader's view %+v", av)
	}
	if bv.State != "standby" || len(bv.Connectors) != 1 || bv.Connectors[0].LastSuccess != 0 {
		t.Fatalf("stand-by's view %+v", bv)
	}
	if v := a.c.CostConnectors("other", ""); v.State != "off" || len(v.Connectors) != 0 {
		t.Fatalf("another tenant's view %+v", v)
	}
	a.stop(t)
	b.waitMetric(t, "throughline_costpull_leader 1")
	b.waitMetric(t, okLine+" 1")
}
