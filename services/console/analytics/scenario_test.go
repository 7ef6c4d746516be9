package analytics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

func moscow(string, string) string { return "Europe/Moscow" }

func netQuery(t *testing.T, model string, by ...Dim) Query {
	return Query{Tenant: "net", From: testnet.Date(t, "2026-03-02"), To: testnet.Date(t, "2026-03-02"), Model: model, By: by, Margin: 0.5, Currency: "RUB"}
}

// want is a row computed by hand.
type want struct {
	cost, clicks, sessions, leads, targetLeads, uniqueLeads, deals, won, revenue, newCustomers float64
	cpl, roi, romi                                                                             *float64
}

func f(v float64) *float64 { return &v }

// TestHandComputedNetwork checks the reports of testnet.Network (its doc
// comment draws the network) against values computed by hand.
func TestHandComputedNetwork(t *testing.T) {
	w := testnet.New(t, engine)
	testnet.Network(t, w)
	if _, err := refresher(t, w, moscow).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	reports := NewReports(engine, w.DB, moscow)

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
		// Leads by kind: L2 and L5 are calls, L1, L3 and L4 forms.
		switch model {
		case "last_non_direct":
			checkKinds(t, model+"/yandex_direct", got["yandex_direct"], kindsWant{call: 1, form: 2, cplCall: f(9000), cplForm: f(4500)})
			checkKinds(t, model+"/offline", got["offline"], kindsWant{call: 1, cplCall: f(0)})
			checkKinds(t, model+"/google_ads", got["google_ads"], kindsWant{})
		case "linear":
			checkKinds(t, model+"/yandex_direct", got["yandex_direct"], kindsWant{call: 1, form: 1.5, cplCall: f(9000), cplForm: f(6000)})
			checkKinds(t, model+"/google_ads", got["google_ads"], kindsWant{form: 0.5, cplForm: f(6000)})
		}
		checkKinds(t, model+"/total", rep.Total, kindsWant{call: 2, form: 3, cplCall: f(6750), cplForm: f(4500)})
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
	utc := refresher(t, w, nil)
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

// Central spend whose campaign name no session carries follows the
// sessions tagged with its campaign id; spend matching neither stays
// unattributed, whole.
func TestCentralSpendMatchedByCampaignID(t *testing.T) {
	w := testnet.New(t, engine)
	for i, acc := range []string{"msk", "msk", "spb"} {
		w.Put(&entity.Session{Meta: entity.Meta{Tenant: "net", Account: acc}, SessionID: fmt.Sprintf("s%d", i), PersonID: "p",
			Start: testnet.At(t, "2026-03-02T10:00:00Z"), Channel: "yandex_direct", Source: "yandex", Medium: "cpc", Campaign: "7001"})
	}
	w.Costs("net", "imp", time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC),
		testnet.Cost{Account: "*", Date: "2026-03-02", Channel: "yandex_direct", Campaign: "Autumn Sale", CampaignID: "7001", Minor: 300_00},
		testnet.Cost{Account: "*", Date: "2026-03-02", Channel: "yandex_direct", Campaign: "Winter", CampaignID: "7002", Minor: 50_00})
	if _, err := refresher(t, w, moscow).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := NewReports(engine, w.DB, moscow).Report(context.Background(), netQuery(t, "last_non_direct", DimAccount))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range rep.Rows {
		got[r.Keys[0]] = r.Cost
	}
	if !near(got["msk"], 200) || !near(got["spb"], 100) || !near(got[Unattributed], 50) || len(got) != 3 {
		t.Fatalf("allocation by campaign id: %v", got)
	}
}
