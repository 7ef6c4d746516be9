package analytics

import (
	"context"
	"testing"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

// kindsWant is a row's leads by kind and cost per lead of each kind,
// computed by hand.
type kindsWant struct {
	call, form, chat, crm             float64
	cplCall, cplForm, cplChat, cplCRM *float64
}

func checkKinds(t *testing.T, name string, got Row, w kindsWant) {
	t.Helper()
	for _, p := range []struct {
		what      string
		got, want float64
	}{{"leads_call", got.LeadsCall, w.call}, {"leads_form", got.LeadsForm, w.form}, {"leads_chat", got.LeadsChat, w.chat}, {"leads_crm", got.LeadsCRM, w.crm}} {
		if !near(p.got, p.want) {
			t.Errorf("%s %s = %v, want %v", name, p.what, p.got, p.want)
		}
	}
	if k := got.LeadsCall + got.LeadsForm + got.LeadsChat + got.LeadsCRM; !near(k, got.Leads) {
		t.Errorf("%s: kinds sum to %v, leads %v", name, k, got.Leads)
	}
	for _, p := range []struct {
		what      string
		got, want *float64
	}{{"cpl_call", got.CPLCall, w.cplCall}, {"cpl_form", got.CPLForm, w.cplForm}, {"cpl_chat", got.CPLChat, w.cplChat}, {"cpl_crm", got.CPLCRM, w.cplCRM}} {
		if (p.got == nil) != (p.want == nil) || p.got != nil && !near(*p.got, *p.want) {
			t.Errorf("%s %s = %v, want %v", name, p.what, deref(p.got), deref(p.want))
		}
	}
}

// kindsNetwork writes tenant "kinds" (UTC), account msk, 2026-04-10:
//
//	leads  C1 call, C2 call, F1 form, H1 chat, R1 crm   one yandex_direct touch each
//	       H2 chat   touches yandex_direct then vk_ads (linear ½ each; last_non_direct vk)
//	       H3 chat   one vk_ads touch
//	       X1 "sms"  one vk_ads touch: a kind reports do not know counts as a form
//	costs  yandex_direct 12 000.00, vk_ads 3 000.00 (msk's own)
//	deals  C1 won 2 units 30 000.00; F1 won 1 unit 15 000.00; H2 won 3 units
//	       45 000.00; X1 lost, 5 units (not sold)
//
// and account spb on 2026-04-11: S1 call (yandex_direct), won 4 units
// 80 000.00; cost yandex_direct 2 000.00.
func kindsNetwork(t *testing.T, w *testnet.World) {
	const tn = "kinds"
	acc, day := "msk", "2026-04-10T"
	var rows []any
	leads := map[string]*entity.Lead{}
	lead := func(id, kind string, touches ...string) {
		ts := testnet.At(t, day+"12:00:00Z")
		l := &entity.Lead{Meta: entity.Meta{Tenant: tn, Account: acc}, LeadID: id, PersonID: "p-" + id, TS: ts, Kind: kind,
			Contacts: 1, Touches: len(touches), Channel: touches[len(touches)-1]}
		rows = append(rows, l)
		leads[id] = l
		for i, ch := range touches {
			sid := id + "-s" + string(rune('0'+i))
			rows = append(rows, &entity.Session{Meta: l.Meta, SessionID: sid, PersonID: l.PersonID,
				Start: testnet.At(t, day+"10:00:00Z") + int64(i)*60_000, Channel: ch})
			last := 0.0
			if i == len(touches)-1 {
				last = 1
			}
			for model, weight := range map[string]float64{"last_non_direct": last, "linear": 1 / float64(len(touches))} {
				rows = append(rows, &entity.Attribution{Meta: l.Meta, LeadID: id, Model: model, Touch: i, Touches: len(touches),
					LeadTS: ts, TouchTS: testnet.At(t, day+"10:00:00Z"), SessionID: sid, Channel: ch, Weight: weight})
			}
		}
	}
	lead("C1", "call", "yandex_direct")
	lead("C2", "call", "yandex_direct")
	lead("F1", "form", "yandex_direct")
	lead("H1", "chat", "yandex_direct")
	lead("R1", "crm", "yandex_direct")
	lead("H2", "chat", "yandex_direct", "vk_ads")
	lead("H3", "chat", "vk_ads")
	lead("X1", "sms", "vk_ads")
	acc, day = "spb", "2026-04-11T"
	lead("S1", "call", "yandex_direct")
	deal := func(leadID, outcome string, units float64, amount int64) {
		l := leads[leadID]
		d := &entity.Deal{Meta: l.Meta, DealID: "D" + leadID, Provider: "generic", CRMDealID: leadID, PersonID: l.PersonID,
			LeadID: leadID, CreatedAt: l.TS, UpdatedAt: l.TS, Outcome: outcome, AmountMinor: amount, Currency: "RUB", Units: units}
		l.Deals++
		if outcome == "won" {
			d.RevenueMinor, d.WonAt = amount, l.TS
			l.WonDeals++
			l.RevenueMinor += amount
		}
		rows = append(rows, d)
	}
	deal("C1", "won", 2, 30_000_00)
	deal("F1", "won", 1, 15_000_00)
	deal("H2", "won", 3, 45_000_00)
	deal("X1", "lost", 5, 50_000_00)
	deal("S1", "won", 4, 80_000_00)
	w.Put(rows...)
	w.Costs(tn, "k-1", testnet.Date(t, "2026-04-11"),
		testnet.Cost{Account: "msk", Date: "2026-04-10", Channel: "yandex_direct", Minor: 12_000_00, Clicks: 100},
		testnet.Cost{Account: "msk", Date: "2026-04-10", Channel: "vk_ads", Minor: 3_000_00, Clicks: 30},
		testnet.Cost{Account: "spb", Date: "2026-04-11", Channel: "yandex_direct", Minor: 2_000_00, Clicks: 10})
}

// TestLeadKindsHandComputed: leads by kind and the cost of a lead of each
// kind, per channel, under a whole-credit and a split model.
func TestLeadKindsHandComputed(t *testing.T) {
	w := testnet.New(t, engine)
	kindsNetwork(t, w)
	if _, err := refresher(t, w, nil).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	reports := NewReports(engine, w.DB, nil)
	byChannel := func(model string) (map[string]Row, Row) {
		t.Helper()
		q := Query{Tenant: "kinds", From: testnet.Date(t, "2026-04-10"), To: testnet.Date(t, "2026-04-10"), Model: model,
			By: []Dim{DimChannel}, Currency: "RUB"}
		rep, err := reports.Report(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		scan, err := reports.Scan(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if !sameMeasures(rep.Total.Measures, scan.Total.Measures) {
			t.Fatalf("%s: aggregates %+v, scan %+v", model, rep.Total.Measures, scan.Total.Measures)
		}
		out := map[string]Row{}
		for _, r := range rep.Rows {
			out[r.Keys[0]] = r
		}
		return out, rep.Total
	}

	// last_non_direct: yandex C1, C2, F1, H1, R1; vk H2, H3, X1.
	got, total := byChannel("last_non_direct")
	checkKinds(t, "last_non_direct/yandex", got["yandex_direct"], kindsWant{call: 2, form: 1, chat: 1, crm: 1,
		cplCall: f(6000), cplForm: f(12000), cplChat: f(12000), cplCRM: f(12000)})
	checkKinds(t, "last_non_direct/vk", got["vk_ads"], kindsWant{form: 1, chat: 2, cplForm: f(3000), cplChat: f(1500)})
	if cpl := got["yandex_direct"].CPL; cpl == nil || !near(*cpl, 2400) {
		t.Errorf("yandex cpl %v, want 2400", deref(cpl))
	}
	checkKinds(t, "last_non_direct/total", total, kindsWant{call: 2, form: 2, chat: 3, crm: 1,
		cplCall: f(7500), cplForm: f(7500), cplChat: f(5000), cplCRM: f(15000)})

	// linear: H2's chat is split, ½ to each channel.
	got, total = byChannel("linear")
	checkKinds(t, "linear/yandex", got["yandex_direct"], kindsWant{call: 2, form: 1, chat: 1.5, crm: 1,
		cplCall: f(6000), cplForm: f(12000), cplChat: f(8000), cplCRM: f(12000)})
	checkKinds(t, "linear/vk", got["vk_ads"], kindsWant{form: 1, chat: 1.5, cplForm: f(3000), cplChat: f(2000)})
	checkKinds(t, "linear/total", total, kindsWant{call: 2, form: 2, chat: 3, crm: 1,
		cplCall: f(7500), cplForm: f(7500), cplChat: f(5000), cplCRM: f(15000)})
}

// TestUnitsSoldHandComputed: units of won deals per channel (weighted like
// revenue) and per account, and the cost of a unit sold.
func TestUnitsSoldHandComputed(t *testing.T) {
	w := testnet.New(t, engine)
	kindsNetwork(t, w)
	if _, err := refresher(t, w, nil).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	reports := NewReports(engine, w.DB, nil)
	report := func(model, from, to string, by Dim) (map[string]Row, Row) {
		t.Helper()
		q := Query{Tenant: "kinds", From: testnet.Date(t, from), To: testnet.Date(t, to), Model: model, By: []Dim{by}, Currency: "RUB"}
		rep, err := reports.Report(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		scan, err := reports.Scan(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if !sameMeasures(rep.Total.Measures, scan.Total.Measures) {
			t.Fatalf("%s: aggregates %+v, scan %+v", model, rep.Total.Measures, scan.Total.Measures)
		}
		out := map[string]Row{}
		for _, r := range rep.Rows {
			out[r.Keys[0]] = r
		}
		return out, rep.Total
	}
	check := func(name string, got Row, units, revenue float64, perUnit *float64) {
		t.Helper()
		if !near(got.Units, units) || !near(got.Revenue, revenue) {
			t.Errorf("%s: units %v revenue %v, want %v and %v", name, got.Units, got.Revenue, units, revenue)
		}
		if (got.CostPerUnit == nil) != (perUnit == nil) || perUnit != nil && !near(*got.CostPerUnit, *perUnit) {
			t.Errorf("%s: cost per unit %v, want %v", name, deref(got.CostPerUnit), deref(perUnit))
		}
	}
	// last_non_direct on 04-10: yandex sells C1's 2 and F1's 1, vk H2's 3;
	// X1's 5 were lost.
	got, total := report("last_non_direct", "2026-04-10", "2026-04-10", DimChannel)
	check("last_non_direct/yandex", got["yandex_direct"], 3, 45000, f(4000))
	check("last_non_direct/vk", got["vk_ads"], 3, 45000, f(1000))
	check("last_non_direct/total", total, 6, 90000, f(2500))
	// linear: H2's 3 units are split, 1.5 each.
	got, _ = report("linear", "2026-04-10", "2026-04-10", DimChannel)
	check("linear/yandex", got["yandex_direct"], 4.5, 67500, f(12000/4.5))
	check("linear/vk", got["vk_ads"], 1.5, 22500, f(2000))
	// Per dealer over both days: turnover and units.
	got, total = report("last_non_direct", "2026-04-10", "2026-04-11", DimAccount)
	check("msk", got["msk"], 6, 90000, f(2500))
	check("spb", got["spb"], 4, 80000, f(500))
	check("accounts/total", total, 10, 170000, f(1700))
}

// TestRefresherRebuildsRowsOfAnOlderSchema: aggregates written before the
// kind columns existed (zeros there) are recomputed by the first round of a
// refresher, though the watermark says nothing changed.
func TestRefresherRebuildsRowsOfAnOlderSchema(t *testing.T) {
	w := testnet.New(t, engine)
	kindsNetwork(t, w)
	ctx := context.Background()
	if _, err := refresher(t, w, nil).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// What the table holds after the migration on an old deployment: the
	// kinds at their default, zero.
	w.Query(`INSERT INTO %[1]s.leads_daily (tenant, model, day, account, channel, source, medium, campaign, leads, target_leads,
    unique_leads, deals, won_deals, revenue_minor, new_customers, version, deleted)
SELECT tenant, model, day, account, channel, source, medium, campaign, leads, target_leads, unique_leads, deals, won_deals,
       revenue_minor, new_customers, version + 1, 0
FROM %[1]s.leads_daily FINAL`, w.DB)
	if n := toInt64(w.Query("SELECT sum(leads_call + leads_form + leads_chat + leads_crm) FROM %s.leads_daily FINAL", w.DB)[0][0]); n != 0 {
		t.Fatalf("setup: kinds sum to %d, want the zeros of an old row", n)
	}
	r := refresher(t, w, nil) // a restart after the upgrade
	st, err := r.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Full {
		t.Fatalf("first round over old rows: %+v, want a full round", st)
	}
	if n := toInt64(w.Query("SELECT sum(leads_chat) FROM %s.leads_daily FINAL WHERE model = 'last_non_direct'", w.DB)[0][0]); n != 3 {
		t.Fatalf("after the round: %d chat leads, want 3", n)
	}
	// Recomputed rows are current: the next refresher starts incrementally.
	if st, err := refresher(t, w, nil).Refresh(ctx); err != nil || st.Full {
		t.Fatalf("a restart over current rows: %+v, %v; want an incremental round", st, err)
	}
}
