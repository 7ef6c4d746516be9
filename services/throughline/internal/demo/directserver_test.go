package demo

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// pullDirect asks the demo's Reports API for from..to as the collector's
// Yandex Direct connector does.
func pullDirect(t *testing.T, url, token, from, to string) (*http.Response, string) {
	t.Helper()
	body := `{"params":{"SelectionCriteria":{"DateFrom":"` + from + `","DateTo":"` + to + `"},"ReportType":"CAMPAIGN_PERFORMANCE_REPORT","Format":"TSV"}}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return resp, b.String()
}

// Kazan's Direct spend is not uploaded: its tenants entry has a Yandex
// Direct connector at the demo's Reports API, which answers "being built"
// until the history is known, refuses a wrong token, and then serves the
// history's days as the branch's report.
func TestDirectSpendIsPulled(t *testing.T) {
	t.Setenv(DirectTokenEnv, "y0_demo-test-token")
	crm := startCRM(t)
	tc := TenantsFor(1, 20, crm.URL())
	_, kazan := tc.Find(TenantID, "kazan")
	if kazan == nil || len(kazan.CostConnectors) != 1 {
		t.Fatalf("kazan has no cost connector: %+v", kazan)
	}
	conn := kazan.CostConnectors[0]
	if conn.Provider != "yandex_direct" || conn.TokenEnv != DirectTokenEnv || conn.RestateDays != directRestateDays ||
		conn.BaseURL != crm.URL()+"/demo-direct/kazan/json/v5/reports" {
		t.Fatalf("kazan's connector: %+v", conn)
	}
	if err := tc.Validate(); err != nil {
		t.Fatal(err)
	}
	yesterday := dayOf(time.Now()).AddDate(0, 0, -1)
	from, to := yesterday.AddDate(0, 0, -1).Format(time.DateOnly), yesterday.Format(time.DateOnly)

	crm.configure(tc)
	if resp, _ := pullDirect(t, conn.BaseURL, "y0_demo-test-token", from, to); resp.StatusCode != http.StatusAccepted || resp.Header.Get("retryIn") != strconv.Itoa(directRetryIn) {
		t.Fatalf("before the history: %d retryIn %q, want 202 retryIn %d", resp.StatusCode, resp.Header.Get("retryIn"), directRetryIn)
	}

	fake := newFake(tc)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var logs syncBuffer
	meter, live := liveGauge(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{CollectorURL: srv.URL, Rate: 50, Seed: 2, Backfill: 72 * time.Hour, BackfillPerDay: 3000,
			BatchSize: 50, SummaryEvery: time.Hour, CRM: crm, CRMTrickle: 2 * time.Second, Meter: meter}, tc, zerolog.New(&logs))
	}()
	waitLive(t, live, 60*time.Second, logs.String)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	direct := fake.hooks.direct
	fake.mu.Unlock()
	if direct["kazan"] != 0 || direct["moscow"] == 0 || len(direct) != 19 {
		t.Errorf("Direct uploads by account %v: want every branch's but kazan's", direct)
	}

	if resp, answer := pullDirect(t, conn.BaseURL, "y0_wrong", from, to); resp.StatusCode != http.StatusBadRequest || !strings.Contains(answer, `"error_code":53`) {
		t.Errorf("wrong token: %d %s", resp.StatusCode, answer)
	}
	resp, answer := pullDirect(t, conn.BaseURL, "y0_demo-test-token", from, to)
	lines := strings.Split(strings.TrimSuffix(answer, "\n"), "\n")
	if resp.StatusCode != http.StatusOK || len(lines) < 3 || lines[0] != "Date\tCampaignId\tCampaignName\tImpressions\tClicks\tCost" {
		t.Fatalf("report: %d\n%s", resp.StatusCode, answer)
	}
	rows := lines[1 : len(lines)-1]
	if lines[len(lines)-1] != "Total rows: "+strconv.Itoa(len(rows)) {
		t.Errorf("report's last line %q, %d rows", lines[len(lines)-1], len(rows))
	}
	days := map[string]int64{}
	for _, r := range rows {
		f := strings.Split(r, "\t")
		id, _ := strconv.ParseInt(f[1], 10, 64)
		cost, _ := strconv.ParseInt(f[5], 10, 64)
		if len(f) != 6 || id <= 70_000_400 || id >= 70_000_500 || cost <= 0 || cost%10_000 != 0 {
			t.Errorf("row %q: not one of kazan's campaigns with its spend in micros", r)
		}
		days[f[0]] += cost
	}
	for _, d := range []string{from, to} {
		var want int64
		for _, r := range crm.store.directSpend("kazan", d) {
			want += r.fee * 10_000
		}
		if days[d] == 0 || days[d] != want {
			t.Errorf("%s: pulled %d micros, the day's spend is %d", d, days[d], want)
		}
	}
}
