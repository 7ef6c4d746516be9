package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/cdptest"
	"github.com/throughline/throughline/pkg/contract/alert"
	"github.com/throughline/throughline/services/console"
)

// screenshotPath is where the test leaves a picture of the dashboard for
// the docs (docs/dashboard.md).
var screenshotPath = filepath.Join("..", "..", "..", "docs", "img", "dashboard.png")

// maxScreenshot bounds the committed picture.
const maxScreenshot = 300 << 10

// TestDashboardInChromium opens the dashboard in headless Chromium, logs in
// with the tenant's read token and checks that the channel table shows
// exactly the report API's numbers (for two attribution models and a
// branch), that a lead produced to the leads topic appears without a
// reload (and another tenant's does not), that the alerter's alert (as the alerter serves it) and the
// dead letters per source are shown, and saves a screenshot.
func TestDashboardInChromium(t *testing.T) {
	b := cdptest.Start(t)
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// An incident to show: a deal won without an amount, as the alerter
	// reports it.
	now := time.Now().UnixMilli()
	e.alerts.fire(alert.Record{ID: "a-no-amount", Version: 1, Tenant: "net", Account: "msk", Rule: "won-without-amount",
		Kind: "won_without_amount", Severity: "warning", Status: alert.Firing, Title: "Deal won without an amount",
		Summary: "1 won deal has no amount", Value: 1, Threshold: 0, FiredAt: now, RecordedAt: now})

	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.SetViewport(ctx, 1360, 1000); err != nil {
		t.Fatal(err)
	}
	// The period and the model are in the URL, as a shared link has them.
	if err := tab.Navigate(ctx, e.url+"/dashboard/#from=2026-03-02&to=2026-03-02&model=linear", ""); err != nil {
		t.Fatal(err)
	}
	// Not logged in: the login form, nothing else.
	var loginShown bool
	if err := tab.Eval(ctx, `!document.getElementById('login-view').hidden && document.getElementById('dash-view').hidden`, &loginShown); err != nil {
		t.Fatal(err)
	}
	if !loginShown {
		t.Fatal("the page shows the dashboard before a login")
	}
	// A wrong token is refused and says so.
	login := func(token string) {
		t.Helper()
		js := fmt.Sprintf(`document.getElementById('token').value = %q; document.getElementById('login').requestSubmit()`, token)
		if err := tab.Eval(ctx, js, nil); err != nil {
			t.Fatal(err)
		}
	}
	login("not-a-token-of-anyone")
	waitFor(t, ctx, tab, `document.getElementById('login-error').textContent.includes('not accepted')`)
	login(netToken)
	waitFor(t, ctx, tab, `document.body.dataset.reportsLoaded === '1' && document.querySelectorAll('#channels tbody tr[data-channel]').length > 0`)
	var stored string
	if err := tab.Eval(ctx, `sessionStorage.getItem('tl_token')`, &stored); err != nil || stored != netToken {
		t.Fatalf("token in sessionStorage: %q (%v)", stored, err)
	}

	// Connect your BI: the address and net's own read-only user; the
	// password only when asked for.
	waitFor(t, ctx, tab, `document.body.dataset.biLoaded === '1'`)
	var bi struct{ URL, User, Hidden, Shown string }
	if err := tab.Eval(ctx, `(() => {
		const r = { URL: document.getElementById('bi-url').textContent, User: document.getElementById('bi-user').textContent,
			Hidden: document.getElementById('bi-password').textContent };
		document.getElementById('bi-show').click();
		r.Shown = document.getElementById('bi-password').textContent;
		document.getElementById('bi-show').click();
		return r;
	})()`, &bi); err != nil {
		t.Fatal(err)
	}
	if bi.URL != biURL || bi.User != netCHUser || bi.Hidden == netCHPass || bi.Shown != netCHPass {
		t.Errorf("Connect your BI panel: %+v", bi)
	}

	// The channel table is the report API's answer, cell for cell.
	checkTable(t, ctx, tab, e, "/v1/reports/channels?tenant=net&from=2026-03-02&to=2026-03-02&model=linear")
	// The data-driven panel is the Markov report's answer for the same days.
	checkMarkov(t, ctx, tab, e, "/v1/reports/markov?tenant=net&from=2026-03-02&to=2026-03-03")

	// The pickers ask the same API: another model, one branch.
	if err := tab.Eval(ctx, `(() => {
		const m = document.getElementById('model'); m.value = 'last_non_direct';
		const a = document.getElementById('account'); a.value = 'msk';
		document.body.dataset.reportsLoaded = '';
		a.dispatchEvent(new Event('change'));
	})()`, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, tab, `document.body.dataset.reportsLoaded === '1' && document.getElementById('channels-caption').textContent.includes('Moscow')`)
	checkTable(t, ctx, tab, e, "/v1/reports/channels?tenant=net&from=2026-03-02&to=2026-03-02&model=last_non_direct&account=msk")
	var hash string
	tab.Eval(ctx, `location.hash`, &hash)
	if !strings.Contains(hash, "model=last_non_direct") || !strings.Contains(hash, "account=msk") {
		t.Errorf("the pickers are not in the URL: %q", hash)
	}
	// Back to the whole network for the live view and the picture.
	if err := tab.Eval(ctx, `(() => {
		const a = document.getElementById('account'); a.value = '';
		document.body.dataset.reportsLoaded = '';
		a.dispatchEvent(new Event('change'));
	})()`, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, tab, `document.body.dataset.reportsLoaded === '1'`)

	// The lead flow chart draws the network's five leads of that day.
	waitFor(t, ctx, tab, `document.querySelectorAll('#flow-chart svg rect').length >= 4 && document.getElementById('flow-caption').textContent.startsWith('5 leads')`)
	// Cost vs revenue: a bar for each channel with either.
	waitFor(t, ctx, tab, `document.querySelectorAll('#cost-chart rect[data-k=revenue]').length >= 3`)

	// Live: a new lead appears without a reload; another tenant's never does.
	waitFor(t, ctx, tab, `document.getElementById('live-status').dataset.state === 'live'`)
	var navigations int
	tab.Eval(ctx, `performance.getEntriesByType('navigation').length`, &navigations)
	tab.Eval(ctx, `window.__sameDocument = true`, nil)
	e.lead("other", "x1", "lead-other-1", "vk_ads", "vk", "cpc")
	produced := time.Now()
	e.lead("net", "spb", "lead-live-1", "yandex_direct", "yandex", "cpc")
	waitFor(t, ctx, tab, `document.querySelector('#live-leads tr[data-lead="lead-live-1"]')`)
	t.Logf("lead produced → row in the page: %v (polled every 50 ms)", time.Since(produced).Round(time.Millisecond))
	var row struct {
		Branch, Channel, Source string
		Fresh, Same             bool
		Other                   bool
	}
	if err := tab.Eval(ctx, `(() => {
		const r = document.querySelector('#live-leads tr[data-lead="lead-live-1"]');
		return {Branch: r.querySelector('.branch').textContent, Channel: r.querySelector('.channel').textContent.trim(),
			Source: r.querySelector('.source').textContent, Fresh: r.classList.contains('fresh'), Same: window.__sameDocument === true,
			Other: !!document.querySelector('#live-leads tr[data-lead="lead-other-1"]')};
	})()`, &row); err != nil {
		t.Fatal(err)
	}
	if row.Branch != "Saint Petersburg" || row.Channel != "yandex_direct" || row.Source != "yandex / cpc · spring" || !row.Fresh || !row.Same {
		t.Fatalf("live lead row %+v", row)
	}
	if row.Other {
		t.Fatal("another tenant's lead appeared in the live view")
	}

	// The alert and the dead letters.
	waitFor(t, ctx, tab, `document.querySelector('#alerts-active li[data-rule="won-without-amount"]')`)
	var dead map[string]string
	if err := tab.Eval(ctx, `Object.fromEntries([...document.querySelectorAll('#dead-letters tbody tr[data-source]')].map(
		(r) => [r.dataset.source, r.querySelector('td.num').dataset.v]))`, &dead); err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 || dead["crm:amocrm"] != "2" || dead["calls:mango"] != "1" {
		t.Fatalf("dead letters per source %v, want crm:amocrm 2, calls:mango 1", dead)
	}
	if ex := b.Thrown(); len(ex) > 0 {
		t.Fatalf("the page threw: %v", ex)
	}

	// A picture for the docs.
	tab.Eval(ctx, `document.getElementById('updated').textContent = ''`, nil)
	png, err := tab.Screenshot(ctx, "png", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(png) > maxScreenshot {
		t.Fatalf("screenshot is %d KB, more than %d KB", len(png)>>10, maxScreenshot>>10)
	}
	// The committed picture is refreshed only on request, so a test run
	// leaves the work tree clean: THROUGHLINE_UPDATE_SCREENSHOT=1 go test ...
	path := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv("THROUGHLINE_UPDATE_SCREENSHOT") != "" {
		path = screenshotPath
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d KB)", path, len(png)>>10)
}

func waitFor(t *testing.T, ctx context.Context, tab *cdptest.Tab, expr string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := tab.WaitFor(wctx, expr, 50*time.Millisecond); err != nil {
		var page string
		tab.Eval(ctx, `document.getElementById('dash-error').textContent + ' | ' + document.getElementById('login-error').textContent`, &page)
		t.Fatalf("%v (page errors: %q)", err, page)
	}
}

// checkTable compares the channel table with the report API's JSON for the
// same parameters: every row, every column and the total, as the exact
// numbers the API sent (the cells keep them in data-v; the text is
// formatted for people).
// checkMarkov compares the data-driven panel with the Markov report.
func checkMarkov(t *testing.T, ctx context.Context, tab *cdptest.Tab, e *env, path string) {
	t.Helper()
	var rep console.MarkovAnswer
	if status := e.getJSON(path, netToken, &rep); status != 200 {
		t.Fatalf("GET %s: %d", path, status)
	}
	if len(rep.Rows) == 0 {
		t.Fatalf("GET %s: no rows; the test network should have leads that day", path)
	}
	waitFor(t, ctx, tab, fmt.Sprintf(`document.querySelectorAll('#markov tbody tr[data-channel]').length === %d`, len(rep.Rows)))
	var got []map[string]string
	if err := tab.Eval(ctx, `[...document.querySelectorAll('#markov tbody tr[data-channel]')].map((tr) => {
		const o = {channel: tr.dataset.channel};
		for (const td of tr.querySelectorAll('td[data-col]')) o[td.dataset.col] = td.dataset.v;
		return o;
	})`, &got); err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Rows {
		want := map[string]string{"channel": r.Channel, "share": jsNum(r.Share), "conversions": jsNum(r.Conversions), "revenue_minor": jsNum(r.RevenueMinor)}
		if fmt.Sprint(got[i]) != fmt.Sprint(want) {
			t.Errorf("%s row %d: panel %v, API %v", path, i, got[i], want)
		}
	}
}

// jsNum is how JavaScript's String() writes a JSON number Go decoded.
func jsNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func checkTable(t *testing.T, ctx context.Context, tab *cdptest.Tab, e *env, path string) {
	t.Helper()
	var rep console.ReportAnswer
	if status := e.getJSON(path, netToken, &rep); status != 200 {
		t.Fatalf("GET %s: %d", path, status)
	}
	type tableRow struct {
		Channel string            `json:"channel"`
		Cells   map[string]string `json:"cells"`
		Texts   map[string]string `json:"texts"`
	}
	var got struct {
		Rows  []tableRow `json:"rows"`
		Total tableRow   `json:"total"`
	}
	if err := tab.Eval(ctx, `(() => {
		const read = (tr) => {
			const cells = {}, texts = {};
			for (const td of tr.querySelectorAll('td[data-col]')) { cells[td.dataset.col] = td.dataset.v; texts[td.dataset.col] = td.textContent; }
			return {channel: tr.dataset.channel || '', cells, texts};
		};
		return {rows: [...document.querySelectorAll('#channels tbody tr[data-channel]')].map(read),
			total: read(document.querySelector('#channels tfoot tr'))};
	})()`, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != len(rep.Rows) {
		t.Fatalf("%s: the table has %d channels, the API %d", path, len(got.Rows), len(rep.Rows))
	}
	shown := []string{"cost", "clicks", "sessions", "leads", "leads_call", "leads_form", "leads_chat", "leads_crm", "target_leads",
		"won_deals", "revenue", "units", "cpl", "cpl_call", "cpl_form", "cpl_chat", "cpl_crm", "cpa", "cost_per_unit", "roi", "romi"}
	compare := func(where string, raw json.RawMessage, tr tableRow) {
		var want map[string]json.RawMessage
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if where != "total" {
			var ch string
			json.Unmarshal(want["channel"], &ch)
			if tr.Channel != ch {
				t.Errorf("%s %s: table row is channel %q, API row %q", path, where, tr.Channel, ch)
			}
		}
		for _, col := range shown {
			w := string(want[col])
			if w == "null" {
				w = ""
			}
			if tr.Cells[col] != w {
				t.Errorf("%s %s %s: cell %q, API %s", path, where, col, tr.Cells[col], want[col])
			}
			if text := tr.Texts[col]; text == "" || (w == "" && text != "—") {
				t.Errorf("%s %s %s: shown as %q", path, where, col, text)
			}
		}
	}
	for i, raw := range rep.Rows {
		compare(fmt.Sprintf("row %d", i), raw, got.Rows[i])
	}
	compare("total", rep.Total, got.Total)
}
