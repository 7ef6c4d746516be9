package analytics

import (
	"context"
	"testing"
	"time"

	"github.com/throughline/throughline/services/stitcher/entity"
)

// The hand-computed network: tenant "net" (Europe/Moscow, margin 0.5),
// branches msk and spb, one day, 2026-03-02 Moscow time.
//
//	sessions  s1 p1 msk google_ads    brand   2026-03-01 22:30Z = 03-02 01:30 Moscow (03-01 in UTC)
//	          s2 p1 msk yandex_direct spring  07:00Z
//	          s3 p2 msk yandex_direct spring  08:00Z
//	          s4 p3 msk direct                09:00Z
//	          s5 p4 msk google_ads    brand   10:00Z
//	          s6 p5 spb yandex_direct spring  07:30Z
//	          s7 p6 spb organic               11:00Z
//	leads     L1 p1 msk form 07:10Z  touches s1, s2
//	          L2 p2 msk call 08:20Z  touch s3 (a target call)
//	          L3 p3 msk form 09:05Z  touch s4 (direct only)
//	          L4 p5 spb form 07:40Z  touch s6
//	          L5 p7 spb call 12:00Z  static number advertised offline (no session)
//	deals     D1 L1 won 100 000.00; D5 L1 won 20 000.00 (p1 buys again)
//	          D2 L2 won without an amount; D3 L4 lost; D4 L5 won 30 000.00
//	costs     msk google_ads brand 3 000.00 (30 clicks) — restated from an
//	          earlier import of 5 000.00
//	          central yandex_direct spring 9 000.00 (90 clicks): sessions of
//	          spring that day are s2, s3 (msk) and s6 (spb): msk 6 000, spb 3 000
//	          central vk_ads winter 1 500.00: no sessions, unattributed
//
// L1's weights: first_click s1 1; last_click and last_non_direct s2 1;
// linear and position_based ½ each; time_decay s1 0.375, s2 0.625.
func network(t *testing.T, w *world) {
	const tn = "net"
	sess := func(acc, id, person, ts, ch, src, med, camp string) *entity.Session {
		return &entity.Session{Meta: entity.Meta{Tenant: tn, Account: acc}, SessionID: id, ClientID: "c-" + person, PersonID: person,
			Start: at(t, ts), End: at(t, ts) + 60000, DurationMS: 60000, Hits: 2, Channel: ch, Source: src, Medium: med, Campaign: camp,
			FirstEvent: "e-" + id}
	}
	lead := func(acc, id, person, kind, ts string, deals, won int, revenue int64) *entity.Lead {
		return &entity.Lead{Meta: entity.Meta{Tenant: tn, Account: acc}, LeadID: id, PersonID: person, TS: at(t, ts), Kind: kind,
			FirstEvent: "e-" + id, Contacts: 1, LastContactAt: at(t, ts), Touches: 1, Deals: deals, WonDeals: won, RevenueMinor: revenue}
	}
	deal := func(acc, id, person, leadID, outcome string, amount int64, won string) *entity.Deal {
		d := &entity.Deal{Meta: entity.Meta{Tenant: tn, Account: acc}, DealID: id, Provider: "amocrm", CRMDealID: id, PersonID: person,
			LeadID: leadID, CreatedAt: at(t, "2026-03-02T12:00:00Z"), UpdatedAt: at(t, "2026-03-03T12:00:00Z"),
			Outcome: outcome, AmountMinor: amount, Currency: "RUB", Changes: 2}
		if outcome == "won" {
			d.RevenueMinor, d.WonAt = amount, at(t, won)
		}
		return d
	}
	type touch struct {
		session, ch, src, med, camp string
		ts                          string
	}
	attr := func(l *entity.Lead, touches []touch, weights map[string][]float64) []any {
		var out []any
		for _, m := range Models {
			w := weights[m]
			for i, tc := range touches {
				out = append(out, &entity.Attribution{Meta: entity.Meta{Tenant: tn, Account: l.Account}, LeadID: l.LeadID, Model: m,
					Touch: i, Touches: len(touches), LeadTS: l.TS, TouchTS: at(t, tc.ts), SessionID: tc.session,
					Channel: tc.ch, Source: tc.src, Medium: tc.med, Campaign: tc.camp,
					Weight: w[i], RevenueMinor: float64(l.RevenueMinor) * w[i]})
			}
		}
		return out
	}
	one := map[string][]float64{}
	for _, m := range Models {
		one[m] = []float64{1}
	}
	l1 := lead("msk", "L1", "p1", "form", "2026-03-02T07:10:00Z", 2, 2, 120_000_00)
	l1.Touches = 2
	l2 := lead("msk", "L2", "p2", "call", "2026-03-02T08:20:00Z", 1, 1, 0)
	l3 := lead("msk", "L3", "p3", "form", "2026-03-02T09:05:00Z", 0, 0, 0)
	l4 := lead("spb", "L4", "p5", "form", "2026-03-02T07:40:00Z", 1, 0, 0)
	l5 := lead("spb", "L5", "p7", "call", "2026-03-02T12:00:00Z", 1, 1, 30_000_00)

	w.put(
		sess("msk", "s1", "p1", "2026-03-01T22:30:00Z", "google_ads", "google", "cpc", "brand"),
		sess("msk", "s2", "p1", "2026-03-02T07:00:00Z", "yandex_direct", "yandex", "cpc", "spring"),
		sess("msk", "s3", "p2", "2026-03-02T08:00:00Z", "yandex_direct", "yandex", "cpc", "spring"),
		sess("msk", "s4", "p3", "2026-03-02T09:00:00Z", "direct", "(direct)", "(none)", ""),
		sess("msk", "s5", "p4", "2026-03-02T10:00:00Z", "google_ads", "google", "cpc", "brand"),
		sess("spb", "s6", "p5", "2026-03-02T07:30:00Z", "yandex_direct", "yandex", "cpc", "spring"),
		sess("spb", "s7", "p6", "2026-03-02T11:00:00Z", "organic", "yandex", "organic", ""),
		l1, l2, l3, l4, l5,
		deal("msk", "D1", "p1", "L1", "won", 100_000_00, "2026-03-03T12:00:00Z"),
		deal("msk", "D5", "p1", "L1", "won", 20_000_00, "2026-03-10T12:00:00Z"),
		deal("msk", "D2", "p2", "L2", "won", 0, "2026-03-04T12:00:00Z"),
		deal("spb", "D3", "p5", "L4", "lost", 50_000_00, ""),
		deal("spb", "D4", "p7", "L5", "won", 30_000_00, "2026-03-05T12:00:00Z"),
	)
	var rows []any
	rows = append(rows, attr(l1, []touch{
		{"s1", "google_ads", "google", "cpc", "brand", "2026-03-01T22:30:00Z"},
		{"s2", "yandex_direct", "yandex", "cpc", "spring", "2026-03-02T07:00:00Z"},
	}, map[string][]float64{
		"first_click": {1, 0}, "last_click": {0, 1}, "last_non_direct": {0, 1},
		"linear": {0.5, 0.5}, "time_decay": {0.375, 0.625}, "position_based": {0.5, 0.5},
	})...)
	rows = append(rows, attr(l2, []touch{{"s3", "yandex_direct", "yandex", "cpc", "spring", "2026-03-02T08:00:00Z"}}, one)...)
	rows = append(rows, attr(l3, []touch{{"s4", "direct", "(direct)", "(none)", "", "2026-03-02T09:00:00Z"}}, one)...)
	rows = append(rows, attr(l4, []touch{{"s6", "yandex_direct", "yandex", "cpc", "spring", "2026-03-02T07:30:00Z"}}, one)...)
	rows = append(rows, attr(l5, []touch{{"", "offline", "+74950000000", "call", "", "2026-03-02T12:00:00Z"}}, one)...)
	w.put(rows...)

	w.costs(tn, "imp-1", time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC),
		cost{account: "msk", date: "2026-03-02", channel: "google_ads", source: "google", medium: "cpc", campaign: "brand", minor: 5_000_00, clicks: 40, impressions: 1200})
	w.costs(tn, "imp-2", time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC),
		cost{account: "msk", date: "2026-03-02", channel: "google_ads", source: "google", medium: "cpc", campaign: "brand", minor: 3_000_00, clicks: 30, impressions: 1000})
	w.costs(tn, "imp-3", time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC),
		cost{account: "*", date: "2026-03-02", channel: "yandex_direct", source: "yandex", medium: "cpc", campaign: "spring", campaignID: "701", minor: 9_000_00, clicks: 90, impressions: 3000},
		cost{account: "*", date: "2026-03-02", channel: "vk_ads", source: "vk", medium: "cpc", campaign: "winter", minor: 1_500_00, clicks: 10, impressions: 500})
}

func moscow(string, string) string { return "Europe/Moscow" }

func netQuery(t *testing.T, model string, by ...Dim) Query {
	return Query{Tenant: "net", From: date(t, "2026-03-02"), To: date(t, "2026-03-02"), Model: model, By: by, Margin: 0.5, Currency: "RUB"}
}

// want is a row computed by hand.
type want struct {
	cost, clicks, sessions, leads, targetLeads, uniqueLeads, deals, won, revenue, newCustomers float64
	cpl, roi, romi                                                                             *float64
}

func f(v float64) *float64 { return &v }

func TestHandComputedNetwork(t *testing.T) {
	w := newWorld(t)
	network(t, w)
	if _, err := w.refresher(moscow).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	reports := NewReports(engine, w.db, moscow)

	// By channel under every model. Costs do not depend on the model:
	// google 3 000 (the restated import, not 5 000), yandex 9 000 (central,
	// allocated), vk 1 500 (unattributed). Sessions: google s1 (01:30
	// Moscow, 03-02) and s5; yandex s2, s3, s6; direct s4; organic s7.
	byModel := map[string]map[string]want{
		"last_non_direct": {
			// L1, L2, L4: deals 2+1+1, won 2+1, revenue 120 000; new
			// customers: p1 (L1 holds D1) and p2 (L2 holds D2).
			"yandex_direct": {cost: 9000, clicks: 90, sessions: 3, leads: 3, targetLeads: 3, uniqueLeads: 3, deals: 4, won: 3,
				revenue: 120000, newCustomers: 2, cpl: f(3000), roi: f((120000 - 9000) / 9000.0), romi: f((60000 - 9000) / 9000.0)},
			"google_ads": {cost: 3000, clicks: 30, sessions: 2, cpl: nil, roi: f(-1), romi: f(-1)},
			"direct":     {sessions: 1, leads: 1, uniqueLeads: 1, cpl: f(0)},
			"organic":    {sessions: 1},
			"offline":    {leads: 1, targetLeads: 1, uniqueLeads: 1, deals: 1, won: 1, revenue: 30000, newCustomers: 1, cpl: f(0)},
			"vk_ads":     {cost: 1500, clicks: 10, roi: f(-1), romi: f(-1)},
		},
		"first_click": {
			// L1 goes to google (s1).
			"yandex_direct": {cost: 9000, clicks: 90, sessions: 3, leads: 2, targetLeads: 2, uniqueLeads: 2, deals: 2, won: 1,
				revenue: 0, newCustomers: 1, cpl: f(4500), roi: f(-1), romi: f(-1)},
			"google_ads": {cost: 3000, clicks: 30, sessions: 2, leads: 1, targetLeads: 1, uniqueLeads: 1, deals: 2, won: 2,
				revenue: 120000, newCustomers: 1, cpl: f(3000), roi: f((120000 - 3000) / 3000.0), romi: f((60000 - 3000) / 3000.0)},
			"direct":  {sessions: 1, leads: 1, uniqueLeads: 1, cpl: f(0)},
			"organic": {sessions: 1},
			"offline": {leads: 1, targetLeads: 1, uniqueLeads: 1, deals: 1, won: 1, revenue: 30000, newCustomers: 1, cpl: f(0)},
			"vk_ads":  {cost: 1500, clicks: 10, roi: f(-1), romi: f(-1)},
		},
		"time_decay": {
			// L1 split 0.375 google / 0.625 yandex.
			"yandex_direct": {cost: 9000, clicks: 90, sessions: 3, leads: 2.625, targetLeads: 2.625, uniqueLeads: 2.625,
				deals: 1 + 1 + 1.25, won: 1 + 1.25, revenue: 75000, newCustomers: 1.625, cpl: f(9000 / 2.625),
				roi: f((75000 - 9000) / 9000.0), romi: f((37500 - 9000) / 9000.0)},
			"google_ads": {cost: 3000, clicks: 30, sessions: 2, leads: 0.375, targetLeads: 0.375, uniqueLeads: 0.375, deals: 0.75,
				won: 0.75, revenue: 45000, newCustomers: 0.375, cpl: f(8000), roi: f(14), romi: f((22500 - 3000) / 3000.0)},
			"direct":  {sessions: 1, leads: 1, uniqueLeads: 1, cpl: f(0)},
			"organic": {sessions: 1},
			"offline": {leads: 1, targetLeads: 1, uniqueLeads: 1, deals: 1, won: 1, revenue: 30000, newCustomers: 1, cpl: f(0)},
			"vk_ads":  {cost: 1500, clicks: 10, roi: f(-1), romi: f(-1)},
		},
	}
	byModel["last_click"] = byModel["last_non_direct"]
	byModel["linear"] = map[string]want{
		"yandex_direct": {cost: 9000, clicks: 90, sessions: 3, leads: 2.5, targetLeads: 2.5, uniqueLeads: 2.5, deals: 3, won: 2,
			revenue: 60000, newCustomers: 1.5, cpl: f(3600), roi: f((60000 - 9000) / 9000.0), romi: f((30000 - 9000) / 9000.0)},
		"google_ads": {cost: 3000, clicks: 30, sessions: 2, leads: 0.5, targetLeads: 0.5, uniqueLeads: 0.5, deals: 1, won: 1,
			revenue: 60000, newCustomers: 0.5, cpl: f(6000), roi: f(19), romi: f(9)},
		"direct":  {sessions: 1, leads: 1, uniqueLeads: 1, cpl: f(0)},
		"organic": {sessions: 1},
		"offline": {leads: 1, targetLeads: 1, uniqueLeads: 1, deals: 1, won: 1, revenue: 30000, newCustomers: 1, cpl: f(0)},
		"vk_ads":  {cost: 1500, clicks: 10, roi: f(-1), romi: f(-1)},
	}
	byModel["position_based"] = byModel["linear"]

	for _, model := range Models {
		rep, err := reports.Report(context.Background(), netQuery(t, model, DimChannel))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Row{}
		for _, r := range rep.Rows {
			got[r.Keys[0]] = r
		}
		if len(got) != len(byModel[model]) {
			t.Errorf("%s: channels %v, want %d", model, keys(got), len(byModel[model]))
		}
		for ch, wt := range byModel[model] {
			checkRow(t, model+"/"+ch, got[ch], wt)
		}
		// Totals do not depend on the model.
		tot := rep.Total
		if !near(tot.Cost, 13500) || !near(tot.Revenue, 150000) || !near(tot.Leads, 5) || !near(tot.Sessions, 7) ||
			!near(tot.WonDeals, 4) || !near(tot.Deals, 5) || !near(tot.NewCustomers, 3) {
			t.Errorf("%s: total %+v", model, tot.Measures)
		}
		if tot.CPL == nil || !near(*tot.CPL, 2700) || tot.ROMI == nil || !near(*tot.ROMI, (75000-13500)/13500.0) {
			t.Errorf("%s: total metrics cpl %v romi %v", model, deref(tot.CPL), deref(tot.ROMI))
		}
	}

	// By account: msk pays its own google 3 000 and 2/3 of the central
	// yandex spend; spb 1/3; vk's 1 500 has no sessions to follow.
	rep, err := reports.Report(context.Background(), netQuery(t, "last_non_direct", DimAccount))
	if err != nil {
		t.Fatal(err)
	}
	accounts := map[string]Row{}
	for _, r := range rep.Rows {
		accounts[r.Keys[0]] = r
	}
	checkRow(t, "msk", accounts["msk"], want{cost: 9000, clicks: 90, sessions: 5, leads: 3, targetLeads: 2, uniqueLeads: 3, deals: 3, won: 3,
		revenue: 120000, newCustomers: 2, cpl: f(3000), roi: f((120000 - 9000) / 9000.0), romi: f((60000 - 9000) / 9000.0)})
	checkRow(t, "spb", accounts["spb"], want{cost: 3000, clicks: 30, sessions: 2, leads: 2, targetLeads: 2, uniqueLeads: 2, deals: 2, won: 1,
		revenue: 30000, newCustomers: 1, cpl: f(1500), roi: f(9), romi: f(4)})
	checkRow(t, Unattributed, accounts[Unattributed], want{cost: 1500, clicks: 10, roi: f(-1), romi: f(-1)})

	// One account's view sees its own rows only: spb's yandex spend is its share.
	q := netQuery(t, "last_non_direct", DimChannel)
	q.Account = "spb"
	rep, err = reports.Report(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		switch r.Keys[0] {
		case "yandex_direct":
			checkRow(t, "spb/yandex", r, want{cost: 3000, clicks: 30, sessions: 1, leads: 1, targetLeads: 1, uniqueLeads: 1, deals: 1,
				cpl: f(3000), roi: f(-1), romi: f(-1)})
		case "organic", "offline":
		default:
			t.Errorf("spb sees channel %s", r.Keys[0])
		}
	}

	// In UTC, s1 (22:30Z) falls on 03-01: the day is the account's.
	utc := w.refresher(nil)
	if _, err := utc.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err = reports.Report(context.Background(), netQuery(t, "last_non_direct", DimChannel))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if r.Keys[0] == "google_ads" && r.Sessions != 1 {
			t.Errorf("google sessions on 03-02 UTC: %v, want 1", r.Sessions)
		}
	}
}

func checkRow(t *testing.T, name string, got Row, w want) {
	t.Helper()
	pairs := []struct {
		what      string
		got, want float64
	}{
		{"cost", got.Cost, w.cost}, {"clicks", got.Clicks, w.clicks}, {"sessions", got.Sessions, w.sessions},
		{"leads", got.Leads, w.leads}, {"target_leads", got.TargetLeads, w.targetLeads}, {"unique_leads", got.UniqueLeads, w.uniqueLeads},
		{"deals", got.Deals, w.deals}, {"won_deals", got.WonDeals, w.won}, {"revenue", got.Revenue, w.revenue},
		{"new_customers", got.NewCustomers, w.newCustomers},
	}
	for _, p := range pairs {
		if !near(p.got, p.want) {
			t.Errorf("%s %s = %v, want %v", name, p.what, p.got, p.want)
		}
	}
	for _, p := range []struct {
		what      string
		got, want *float64
	}{{"cpl", got.CPL, w.cpl}, {"roi", got.ROI, w.roi}, {"romi", got.ROMI, w.romi}} {
		if (p.got == nil) != (p.want == nil) || p.got != nil && !near(*p.got, *p.want) {
			t.Errorf("%s %s = %v, want %v", name, p.what, deref(p.got), deref(p.want))
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
