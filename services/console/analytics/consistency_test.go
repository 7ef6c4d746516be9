package analytics

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

// generated is a random network written as the stitcher would, re-statements
// included: sessions whose channel changes, leads that gain deals, deals
// that are won later, entities deleted by a later version.
type generated struct {
	w        *testnet.World
	rng      *rand.Rand
	tenant   string
	accounts []string
	sessions map[string]*entity.Session
	leads    map[string]*entity.Lead
	deals    map[string]*entity.Deal
	touches  map[string][]*entity.Session // lead → its touches
}

var channels = []struct{ ch, src, med string }{
	{"yandex_direct", "yandex", "cpc"}, {"google_ads", "google", "cpc"}, {"vk_ads", "vk", "cpc"},
	{"organic", "yandex", "organic"}, {"direct", "(direct)", "(none)"}, {"referral", "partner.ru", "referral"},
}

var campaigns = []string{"", "spring", "brand", "retarget"}

func generate(t *testing.T, w *testnet.World, seed uint64, accounts, persons int) *generated {
	return generateAt(t, w, seed, accounts, persons, "gen", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
}

// generateAt writes the network of tenant over the ten days from base.
func generateAt(t *testing.T, w *testnet.World, seed uint64, accounts, persons int, tenant string, base time.Time) *generated {
	g := &generated{w: w, rng: rand.New(rand.NewPCG(seed, 1)), tenant: tenant,
		sessions: map[string]*entity.Session{}, leads: map[string]*entity.Lead{}, deals: map[string]*entity.Deal{},
		touches: map[string][]*entity.Session{}}
	for i := range accounts {
		g.accounts = append(g.accounts, fmt.Sprintf("b%02d", i))
	}
	var batch []any
	for p := range persons {
		acc := g.accounts[g.rng.IntN(len(g.accounts))]
		person := fmt.Sprintf("p%d", p)
		var ss []*entity.Session
		for range 1 + g.rng.IntN(3) {
			c := channels[g.rng.IntN(len(channels))]
			start := base.Add(time.Duration(g.rng.IntN(10*24*60)) * time.Minute)
			s := &entity.Session{Meta: entity.Meta{Tenant: g.tenant, Account: acc}, SessionID: fmt.Sprintf("s%d", len(g.sessions)),
				ClientID: "c" + person, PersonID: person, Start: start.UnixMilli(), End: start.UnixMilli() + 1000, Hits: 1,
				Channel: c.ch, Source: c.src, Medium: c.med, Campaign: campaigns[g.rng.IntN(len(campaigns))]}
			if p%3 != 0 { // two visitors in three run Metrica on the page (cookbook: the Logs API join)
				s.YMClientID = fmt.Sprintf("17%017d", p)
			}
			g.sessions[s.SessionID] = s
			ss = append(ss, s)
			batch = append(batch, s)
		}
		slices.SortFunc(ss, func(a, b *entity.Session) int { return int(a.Start - b.Start) })
		if g.rng.IntN(3) == 0 {
			continue // a visitor, not a lead
		}
		last := ss[len(ss)-1]
		l := &entity.Lead{Meta: entity.Meta{Tenant: g.tenant, Account: acc}, LeadID: "L" + person, PersonID: person,
			TS: last.Start + 60_000, Kind: []string{"form", "call", "chat", "crm"}[g.rng.IntN(4)], Contacts: 1, Touches: len(ss),
			Channel: last.Channel, Source: last.Source, Medium: last.Medium, Campaign: last.Campaign}
		g.leads[l.LeadID] = l
		g.touches[l.LeadID] = ss
		batch = append(batch, l)
		for k := range g.rng.IntN(3) {
			d := &entity.Deal{Meta: entity.Meta{Tenant: g.tenant, Account: acc}, DealID: fmt.Sprintf("D%s-%d", person, k),
				PersonID: person, LeadID: l.LeadID, CreatedAt: l.TS, UpdatedAt: l.TS, Outcome: "open", Currency: "RUB"}
			g.deals[d.DealID] = d
			batch = append(batch, d)
		}
		g.relead(l)
		batch = append(batch, l)
		batch = append(batch, g.attribution(l)...)
	}
	w.Put(batch...)
	var rows []testnet.Cost
	for d := range 10 {
		day := base.AddDate(0, 0, d).Format(time.DateOnly)
		for _, acc := range g.accounts {
			rows = append(rows, testnet.Cost{Account: acc, Date: day, Channel: "google_ads", Source: "google", Medium: "cpc", Campaign: "brand",
				Minor: int64(1000 + g.rng.IntN(100000)), Clicks: int64(g.rng.IntN(50))})
		}
		rows = append(rows, testnet.Cost{Account: "*", Date: day, Channel: "yandex_direct", Source: "yandex", Medium: "cpc", Campaign: "spring",
			Minor: int64(1000 + g.rng.IntN(500000)), Clicks: int64(g.rng.IntN(200))},
			testnet.Cost{Account: "*", Date: day, Channel: "vk_ads", Source: "vk", Medium: "cpc", Campaign: "nobody-clicks",
				Minor: 12345, Clicks: 3})
	}
	w.Costs(g.tenant, "gen-1", base.AddDate(0, 0, 10), rows...)
	return g
}

// relead recomputes a lead's deal counts and revenue from its deals.
func (g *generated) relead(l *entity.Lead) {
	l.Deals, l.WonDeals, l.RevenueMinor = 0, 0, 0
	for _, d := range g.deals {
		if d.LeadID != l.LeadID || d.Deleted {
			continue
		}
		l.Deals++
		if d.Outcome == "won" {
			l.WonDeals++
			l.RevenueMinor += d.RevenueMinor
		}
	}
}

// attribution is a lead's rows under every model: first_click and
// last_click on one touch, the others linear (enough to exercise splits).
func (g *generated) attribution(l *entity.Lead) []any {
	ss := g.touches[l.LeadID]
	var out []any
	for _, m := range Models {
		for i, s := range ss {
			w := 1 / float64(len(ss))
			switch m {
			case "first_click":
				w = b2f(i == 0)
			case "last_click", "last_non_direct":
				w = b2f(i == len(ss)-1)
			}
			out = append(out, &entity.Attribution{Meta: entity.Meta{Tenant: g.tenant, Account: l.Account}, LeadID: l.LeadID, Model: m,
				Touch: i, Touches: len(ss), LeadTS: l.TS, TouchTS: s.Start, SessionID: s.SessionID,
				Channel: s.Channel, Source: s.Source, Medium: s.Medium, Campaign: s.Campaign,
				Weight: w, RevenueMinor: float64(l.RevenueMinor) * w})
		}
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// restate changes a share of everything: sessions change channel (and so
// do the touches of their leads), deals are won, some deleted, a few
// sessions deleted outright.
func (g *generated) restate() {
	var batch []any
	touched := map[string]bool{}
	for _, id := range sortedIDs(g.sessions) {
		s := g.sessions[id]
		if g.rng.IntN(5) != 0 || s.Deleted {
			continue
		}
		c := channels[g.rng.IntN(len(channels))]
		s.Channel, s.Source, s.Medium = c.ch, c.src, c.med
		batch = append(batch, s)
		for lid, ts := range g.touches {
			if slices.Contains(ts, s) {
				touched[lid] = true
			}
		}
	}
	for _, id := range sortedIDs(g.deals) {
		d := g.deals[id]
		switch g.rng.IntN(4) {
		case 0, 1:
			d.Outcome, d.AmountMinor, d.RevenueMinor = "won", int64(g.rng.IntN(1_000_000)), 0
			d.RevenueMinor, d.WonAt = d.AmountMinor, d.CreatedAt+int64(g.rng.IntN(5))*86_400_000
			d.Units = float64(g.rng.IntN(4)) / 2 // 0 to 1.5: some CRMs sell fractions
		case 2:
			d.Deleted = true
		default:
			continue
		}
		batch = append(batch, d)
		touched[d.LeadID] = true
	}
	for _, lid := range sortedIDs(g.leads) {
		if !touched[lid] {
			continue
		}
		l := g.leads[lid]
		g.relead(l)
		batch = append(batch, l)
		batch = append(batch, g.attribution(l)...)
	}
	g.w.Put(batch...)
}

func sortedIDs[V any](m map[string]V) []string {
	ids := keys(m)
	slices.Sort(ids)
	return ids
}

func genQuery(model string, by ...Dim) Query {
	return Query{Tenant: "gen", From: time.Date(2026, 2, 25, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC),
		Model: model, By: by, Margin: 0.4, Currency: "RUB"}
}

func zoneOf(_, account string) string {
	if strings.HasSuffix(account, "1") {
		return "Asia/Novosibirsk"
	}
	return "Europe/Moscow"
}

// sameReports fails when the aggregates' report and the scan of the entity
// tables differ in any row, under every model, at the finest grain.
func sameReports(t *testing.T, reports *Reports) {
	t.Helper()
	for _, model := range Models {
		q := genQuery(model, Dims...)
		agg, err := reports.Report(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		scan, err := reports.Scan(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(agg.Rows) != len(scan.Rows) {
			t.Fatalf("%s: %d rows from the aggregates, %d from the scan", model, len(agg.Rows), len(scan.Rows))
		}
		for i := range agg.Rows {
			a, s := agg.Rows[i], scan.Rows[i]
			if !slices.Equal(a.Keys, s.Keys) || !sameMeasures(a.Measures, s.Measures) {
				t.Fatalf("%s row %d: aggregates %v %+v, scan %v %+v", model, i, a.Keys, a.Measures, s.Keys, s.Measures)
			}
			if k := a.LeadsCall + a.LeadsForm + a.LeadsChat + a.LeadsCRM; !near(k, a.Leads) {
				t.Fatalf("%s row %d %v: leads by kind sum to %v, leads %v", model, i, a.Keys, k, a.Leads)
			}
		}
	}
}

func sameMeasures(a, b Measures) bool {
	return near(a.Cost, b.Cost) && near(a.Clicks, b.Clicks) && near(a.Impressions, b.Impressions) && near(a.Sessions, b.Sessions) &&
		near(a.Leads, b.Leads) && near(a.LeadsCall, b.LeadsCall) && near(a.LeadsForm, b.LeadsForm) &&
		near(a.LeadsChat, b.LeadsChat) && near(a.LeadsCRM, b.LeadsCRM) && near(a.TargetLeads, b.TargetLeads) && near(a.UniqueLeads, b.UniqueLeads) && near(a.Deals, b.Deals) &&
		near(a.WonDeals, b.WonDeals) && near(a.Revenue, b.Revenue) && near(a.Units, b.Units) && near(a.NewCustomers, b.NewCustomers)
}

// baseTotals sums the entity and cost tables directly.
func baseTotals(t *testing.T, w *testnet.World) Measures {
	t.Helper()
	row := w.Query(`SELECT
    (SELECT count() FROM %[1]s.sessions FINAL WHERE tenant = 'gen'),
    (SELECT count() FROM %[1]s.leads FINAL WHERE tenant = 'gen'),
    (SELECT sum(deals) FROM %[1]s.leads FINAL WHERE tenant = 'gen'),
    (SELECT sum(won_deals) FROM %[1]s.leads FINAL WHERE tenant = 'gen'),
    (SELECT sum(revenue_minor) FROM %[1]s.leads FINAL WHERE tenant = 'gen'),
    (SELECT countIf(outcome = 'won') FROM %[1]s.deals FINAL WHERE tenant = 'gen'),
    (SELECT sum(revenue_minor) FROM %[1]s.deals FINAL WHERE tenant = 'gen' AND outcome = 'won'),
    (SELECT sum(amount_minor) FROM %[1]s.costs_current WHERE tenant = 'gen'),
    (SELECT sum(clicks) FROM %[1]s.costs_current WHERE tenant = 'gen'),
    (SELECT countIf(kind = 'call') FROM %[1]s.leads FINAL WHERE tenant = 'gen'),
    (SELECT countIf(kind = 'form') FROM %[1]s.leads FINAL WHERE tenant = 'gen'),
    (SELECT countIf(kind = 'chat') FROM %[1]s.leads FINAL WHERE tenant = 'gen'),
    (SELECT countIf(kind = 'crm') FROM %[1]s.leads FINAL WHERE tenant = 'gen'),
    (SELECT sum(units) FROM %[1]s.deals FINAL WHERE tenant = 'gen' AND outcome = 'won')`, w.DB)[0]
	if toFloat(row[3]) != toFloat(row[5]) || toFloat(row[4]) != toFloat(row[6]) {
		t.Fatalf("generator: leads hold %v won deals / %v revenue, deals %v / %v", row[3], row[4], row[5], row[6])
	}
	return Measures{Sessions: toFloat(row[0]), Leads: toFloat(row[1]), Deals: toFloat(row[2]), WonDeals: toFloat(row[3]),
		Revenue: toFloat(row[4]) / 100, Cost: toFloat(row[7]) / 100, Clicks: toFloat(row[8]),
		LeadsCall: toFloat(row[9]), LeadsForm: toFloat(row[10]), LeadsChat: toFloat(row[11]), LeadsCRM: toFloat(row[12]), Units: toFloat(row[13])}
}

// checkTotals: every model's totals equal the base tables' sums — leads,
// deals and revenue are attributed, never created or lost.
func checkTotals(t *testing.T, w *testnet.World, reports *Reports) {
	t.Helper()
	want := baseTotals(t, w)
	for _, model := range Models {
		rep, err := reports.Report(context.Background(), genQuery(model, DimChannel))
		if err != nil {
			t.Fatal(err)
		}
		got := rep.Total.Measures
		for _, p := range []struct {
			what      string
			got, want float64
		}{
			{"sessions", got.Sessions, want.Sessions}, {"leads", got.Leads, want.Leads}, {"deals", got.Deals, want.Deals},
			{"call leads", got.LeadsCall, want.LeadsCall}, {"form leads", got.LeadsForm, want.LeadsForm},
			{"chat leads", got.LeadsChat, want.LeadsChat}, {"CRM leads", got.LeadsCRM, want.LeadsCRM},
			{"units", got.Units, want.Units},
			{"won deals", got.WonDeals, want.WonDeals}, {"revenue", got.Revenue, want.Revenue}, {"cost", got.Cost, want.Cost},
			{"clicks", got.Clicks, want.Clicks},
		} {
			if !near(p.got, p.want) {
				t.Errorf("%s: report %s %v, base tables %v", model, p.what, p.got, p.want)
			}
		}
	}
}

func TestReportsEqualTheBaseTables(t *testing.T) {
	w := testnet.New(t, engine)
	g := generate(t, w, 7, 4, 300)
	r := refresher(t, w, zoneOf)
	reports := NewReports(engine, w.DB, zoneOf)
	if _, err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkTotals(t, w, reports)
	sameReports(t, reports)

	// Re-state a share of everything, twice; each round only recomputes.
	for range 2 {
		g.restate()
		st, err := r.Refresh(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Full || len(st.Accounts) == 0 {
			t.Fatalf("a round after changes: %+v", st)
		}
		checkTotals(t, w, reports)
		sameReports(t, reports)
	}
	// Nothing double counted while versions pile up unmerged, and nothing
	// changes when the engine merges them.
	before, err := reports.Report(context.Background(), genQuery("linear", Dims...))
	if err != nil {
		t.Fatal(err)
	}
	for _, tab := range []string{"sessions", "leads", "deals", "attribution", "traffic_daily", "leads_daily", "leads_hourly"} {
		w.Query("OPTIMIZE TABLE %s.%s FINAL", w.DB, tab)
	}
	after, err := reports.Report(context.Background(), genQuery("linear", Dims...))
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Rows) != len(after.Rows) || !sameMeasures(before.Total.Measures, after.Total.Measures) {
		t.Fatalf("merging changed the report: %+v → %+v", before.Total.Measures, after.Total.Measures)
	}
	// A full rebuild gives what the incremental rounds gave.
	if _, err := r.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := reports.Report(context.Background(), genQuery("linear", Dims...))
	if err != nil {
		t.Fatal(err)
	}
	if len(rebuilt.Rows) != len(after.Rows) || !sameMeasures(rebuilt.Total.Measures, after.Total.Measures) {
		t.Fatalf("rebuild differs: %+v → %+v", after.Total.Measures, rebuilt.Total.Measures)
	}
}

func TestRestatedEntityIsCountedOnce(t *testing.T) {
	w := testnet.New(t, engine)
	r := refresher(t, w, nil)
	reports := NewReports(engine, w.DB, nil)
	q := Query{Tenant: "net", From: testnet.Date(t, "2026-03-02"), To: testnet.Date(t, "2026-03-02"), Model: "last_non_direct", By: []Dim{DimChannel}}
	byChannel := func() map[string]Measures {
		t.Helper()
		if _, err := r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := reports.Report(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]Measures{}
		for _, row := range rep.Rows {
			out[row.Keys[0]] = row.Measures
		}
		return out
	}
	s := &entity.Session{Meta: entity.Meta{Tenant: "net", Account: "msk"}, SessionID: "s1", PersonID: "p1",
		Start: testnet.At(t, "2026-03-02T10:00:00Z"), Channel: "direct", Source: "(direct)", Medium: "(none)"}
	w.Put(s)
	if got := byChannel(); got["direct"].Sessions != 1 || len(got) != 1 {
		t.Fatalf("first version: %+v", got)
	}
	// The same session, re-stated three times: a late hit reveals a
	// campaign, then the same content again (a version with no change).
	s.Channel, s.Source, s.Medium, s.Campaign = "yandex_direct", "yandex", "cpc", "spring"
	w.Put(s)
	w.Put(s)
	w.Put(s)
	got := byChannel()
	if got["yandex_direct"].Sessions != 1 || len(got) != 1 {
		t.Fatalf("after re-statements: %+v (want one yandex session, no direct)", got)
	}
	// A lead on it, then its deal won: revenue appears once.
	l := &entity.Lead{Meta: entity.Meta{Tenant: "net", Account: "msk"}, LeadID: "L1", PersonID: "p1", TS: testnet.At(t, "2026-03-02T10:05:00Z"), Kind: "form"}
	a := &entity.Attribution{Meta: entity.Meta{Tenant: "net", Account: "msk"}, LeadID: "L1", Model: "last_non_direct", Touches: 1,
		LeadTS: l.TS, TouchTS: s.Start, SessionID: "s1", Channel: "yandex_direct", Source: "yandex", Medium: "cpc", Campaign: "spring", Weight: 1}
	d := &entity.Deal{Meta: entity.Meta{Tenant: "net", Account: "msk"}, DealID: "D1", PersonID: "p1", LeadID: "L1", Outcome: "open"}
	l.Deals = 1
	w.Put(l, a, d)
	if got := byChannel()["yandex_direct"]; got.Leads != 1 || got.Deals != 1 || got.Revenue != 0 {
		t.Fatalf("open deal: %+v", got)
	}
	for _, amount := range []int64{50_000_00, 70_000_00} { // won, then the amount corrected
		d.Outcome, d.AmountMinor, d.RevenueMinor, d.WonAt = "won", amount, amount, testnet.At(t, "2026-03-05T10:00:00Z")
		l.WonDeals, l.RevenueMinor = 1, amount
		a.RevenueMinor = float64(amount)
		w.Put(d, l, a)
	}
	if got := byChannel()["yandex_direct"]; got.Leads != 1 || got.WonDeals != 1 || got.Revenue != 70000 || got.NewCustomers != 1 {
		t.Fatalf("won deal: %+v", got)
	}
	// The lead is folded into another (deleted): it and its row disappear.
	w.Put(&entity.Lead{Meta: entity.Meta{Tenant: "net", Account: "msk", Deleted: true}, LeadID: "L1"},
		&entity.Attribution{Meta: entity.Meta{Tenant: "net", Account: "msk", Deleted: true}, LeadID: "L1", Model: "last_non_direct"})
	if got := byChannel()["yandex_direct"]; got.Leads != 0 || got.Revenue != 0 || got.Sessions != 1 {
		t.Fatalf("deleted lead: %+v", got)
	}
	// The session is re-cut away: nothing is left, no stale row either.
	w.Put(&entity.Session{Meta: entity.Meta{Tenant: "net", Account: "msk", Deleted: true}, SessionID: "s1"})
	if got := byChannel(); len(got) != 0 {
		t.Fatalf("deleted session: %+v", got)
	}
	if n := w.Query("SELECT count() FROM %s.traffic_daily FINAL", w.DB)[0][0]; toInt64(n) != 0 {
		t.Fatalf("traffic_daily keeps %v rows of nothing", n)
	}
}

func TestReimportedCostDayKeepsTotals(t *testing.T) {
	w := testnet.New(t, engine)
	generate(t, w, 11, 3, 50)
	r := refresher(t, w, zoneOf)
	reports := NewReports(engine, w.DB, zoneOf)
	if _, err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	total := func() Measures {
		t.Helper()
		if _, err := r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		rep, err := reports.Report(context.Background(), genQuery("last_non_direct", DimAccount, DimChannel))
		if err != nil {
			t.Fatal(err)
		}
		return rep.Total.Measures
	}
	before := total()
	rows := w.Query(`SELECT account, toString(date), channel, source, medium, campaign, campaign_id, amount_minor, clicks, impressions
FROM %s.costs_current WHERE tenant = 'gen' AND date = '2026-03-04' ORDER BY account, channel, campaign`, w.DB)
	var again []testnet.Cost
	for _, r := range rows {
		again = append(again, testnet.Cost{Account: toString(r[0]), Date: toString(r[1]), Channel: toString(r[2]), Source: toString(r[3]),
			Medium: toString(r[4]), Campaign: toString(r[5]), CampaignID: toString(r[6]), Minor: toInt64(r[7]),
			Clicks: toInt64(r[8]), Impressions: toInt64(r[9])})
	}
	// The same day uploaded again (a retry, or a scheduled re-import).
	w.Costs("gen", "gen-2", time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), again...)
	if got := total(); !sameMeasures(got, before) {
		t.Fatalf("re-import changed the totals: %+v → %+v", before, got)
	}
	// A corrected re-import: the day is restated, not added to.
	var day float64
	for i := range again {
		day += float64(again[i].Minor)
		again[i].Minor *= 2
	}
	w.Costs("gen", "gen-3", time.Date(2026, 3, 21, 0, 0, 0, 0, time.UTC), again...)
	if got := total(); !near(got.Cost, before.Cost+day/100) {
		t.Fatalf("corrected re-import: cost %v, want %v", got.Cost, before.Cost+day/100)
	}
}

// The design's starting point, kept as a check: a materialized view that
// sums inserted rows counts every version of a session, and even an insert
// the table drops as a duplicate (a loader retry with the same token).
// The aggregates count the session once.
func TestNaiveViewWouldDoubleCount(t *testing.T) {
	w := testnet.New(t, engine)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE TABLE %[1]s.naive (channel LowCardinality(String), sessions UInt64) ENGINE = SummingMergeTree ORDER BY channel",
		"CREATE MATERIALIZED VIEW %[1]s.naive_mv TO %[1]s.naive AS SELECT channel, count() AS sessions FROM %[1]s.sessions GROUP BY channel",
	} {
		if err := engine.Exec(ctx, fmt.Sprintf(q, w.DB), nil); err != nil {
			t.Fatal(err)
		}
	}
	s := &entity.Session{Meta: entity.Meta{Tenant: "net", Account: "msk"}, SessionID: "s1", PersonID: "p1",
		Start: testnet.At(t, "2026-03-02T10:00:00Z"), Channel: "direct"}
	w.Put(s)
	s.Channel = "organic"
	w.Put(s) // re-stated
	retry := fmt.Sprintf(`INSERT INTO %s.sessions (tenant, account, session_id, version, deleted, started_at, channel, _topic, _partition, _offset)
SETTINGS insert_deduplicate = 1, insert_deduplication_token = 'batch-1' VALUES ('net', 'msk', 's1', 99, 0, '2026-03-02 10:00:00', 'organic', 't', 0, 1)`, w.DB)
	for range 2 { // the second is dropped by the table
		if err := engine.Exec(ctx, retry, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := toInt64(w.Query("SELECT count() FROM %s.sessions FINAL", w.DB)[0][0]); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	naive := toInt64(w.Query("SELECT sum(sessions) FROM %s.naive", w.DB)[0][0])
	if naive < 3 {
		t.Fatalf("the naive view counted %d sessions: expected it to count every version", naive)
	}
	if _, err := refresher(t, w, nil).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n := toInt64(w.Query("SELECT sum(sessions) FROM %s.traffic_daily FINAL", w.DB)[0][0]); n != 1 {
		t.Fatalf("traffic_daily counts %d sessions, want 1", n)
	}
	t.Logf("naive view: %d sessions for one session; traffic_daily: 1", naive)
}
