// Package testnet writes test data into a migrated database the way the
// pipeline does — entities through the stitcher's row mappings, costs as
// complete imports — and holds the hand-computed network of the report
// tests. Test code only.
package testnet

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/contract/model"
	"github.com/throughline/throughline/pkg/contract/tables"
	"github.com/throughline/throughline/schemas/chstoretest"
)

// models are the attribution models the stitcher computes.
var models = model.Names()

// World is one test's database with the migrations applied, and helpers
// that write entities the way the loader does: through the stitcher's row
// mappings, with Kafka coordinates.
type World struct {
	t       testing.TB
	Store   chstore.Store
	DB      string
	offset  int64
	version map[string]uint64 // per tenant/account
}

// New creates a database of the test's own on store with the migrations
// applied (chstoretest.Database).
func New(t testing.TB, store chstore.Store) *World {
	t.Helper()
	return &World{t: t, Store: store, DB: chstoretest.Database(t, store), version: map[string]uint64{}}
}

// NewNamed is New with the database's name, e.g. "throughline" for queries
// written as users write them.
func NewNamed(t testing.TB, store chstore.Store, db string) *World {
	t.Helper()
	chstoretest.Migrate(t, store, db)
	return &World{t: t, Store: store, DB: db, version: map[string]uint64{}}
}

// next is the next version of an account's entities.
func (w *World) next(m *entity.Meta) {
	k := m.Tenant + "/" + m.Account
	w.version[k]++
	m.Version = w.version[k]
}

// Put writes entities, each with the next version of its account, one
// insert per table.
func (w *World) Put(entities ...any) {
	w.t.Helper()
	type batch struct {
		table string
		cols  []chstore.Column
		rows  [][]any
	}
	var order []string
	batches := map[string]*batch{}
	for _, e := range entities {
		var tab tables.Table
		switch x := e.(type) {
		case *entity.Session:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "sessions")
		case *entity.Call:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "calls")
		case *entity.Lead:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "leads")
		case *entity.Deal:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "deals")
		case *entity.Attribution:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "attribution")
		default:
			w.t.Fatalf("put: %T is not an entity", e)
		}
		b, err := json.Marshal(e)
		if err != nil {
			w.t.Fatal(err)
		}
		row, err := tab.Row(b)
		if err != nil {
			w.t.Fatal(err)
		}
		w.offset++
		row = append(row, tab.Topic, uint32(0), uint64(w.offset))
		bt := batches[tab.Table]
		if bt == nil {
			bt = &batch{table: tab.Table, cols: append(append([]chstore.Column{}, tab.Columns...),
				chstore.Column{Name: "_topic", Type: "LowCardinality(String)"},
				chstore.Column{Name: "_partition", Type: "UInt32"},
				chstore.Column{Name: "_offset", Type: "UInt64"})}
			batches[tab.Table] = bt
			order = append(order, tab.Table)
		}
		bt.rows = append(bt.rows, row)
	}
	for _, name := range order {
		bt := batches[name]
		ins, err := w.Store.PrepareInsert(context.Background(), w.DB+"."+bt.table, bt.cols, "")
		if err != nil {
			w.t.Fatal(err)
		}
		for _, r := range bt.rows {
			if err := ins.Append(r...); err != nil {
				w.t.Fatal(err)
			}
		}
		if err := ins.Send(context.Background()); err != nil {
			w.t.Fatal(err)
		}
	}
}

func sinkFor(t testing.TB, table string) tables.Table {
	for _, s := range tables.All() {
		if s.Table == table {
			return s
		}
	}
	t.Fatalf("no sink for %s", table)
	return tables.Table{}
}

// Cost is one uploaded cost row.
type Cost struct {
	Account, Date, Channel, Source, Medium, Campaign, CampaignID string
	Minor, Clicks, Impressions                                   int64
}

// costColumns are the costs table's columns as the loader fills them.
var costColumns = append(append([]chstore.Column{}, tables.CostsColumns...),
	chstore.Column{Name: "_topic", Type: "LowCardinality(String)"}, chstore.Column{Name: "_partition", Type: "UInt32"},
	chstore.Column{Name: "_offset", Type: "UInt64"})

// Costs writes one complete import of the tenant's rows (account "*" is
// central), with its commit rows, as the collector and loader do.
func (w *World) Costs(tenant, importID string, at time.Time, rows ...Cost) {
	w.t.Helper()
	ins, err := w.Store.PrepareInsert(context.Background(), w.DB+".costs", costColumns, "")
	if err != nil {
		w.t.Fatal(err)
	}
	per := map[string]uint32{}
	var accounts []string
	for i, c := range rows {
		d, err := time.Parse(time.DateOnly, c.Date)
		if err != nil {
			w.t.Fatal(err)
		}
		if per[c.Account] == 0 {
			accounts = append(accounts, c.Account)
		}
		per[c.Account]++
		w.offset++
		if err := ins.Append(tenant, c.Account, d, c.Channel, c.Source, c.Medium, c.Campaign, c.CampaignID, c.Minor, "RUB",
			c.Clicks, c.Impressions, c.Account == "*", importID, fmt.Sprintf("%s/%d", importID, i), "row", uint32(0), "costs:generic", at,
			"throughline.costs.v1", uint32(0), uint64(w.offset)); err != nil {
			w.t.Fatal(err)
		}
	}
	for _, a := range accounts {
		w.offset++
		if err := ins.Append(tenant, a, time.Time{}, "", "", "", "", "", int64(0), "RUB", int64(0), int64(0), a == "*",
			importID, importID+"/commit/"+a, "commit", per[a], "costs:generic", at,
			"throughline.costs.v1", uint32(0), uint64(w.offset)); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := ins.Send(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// Query runs a statement formatted with args and returns its rows.
func (w *World) Query(q string, args ...any) [][]any {
	w.t.Helper()
	res, err := w.Store.Query(context.Background(), fmt.Sprintf(q, args...), nil)
	if err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
	return res.Rows
}

// At parses an RFC 3339 time into Unix ms.
func At(t testing.TB, s string) int64 {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UnixMilli()
}

// Date parses a day.
func Date(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Network writes the hand-computed network of the report tests: tenant "net" (Europe/Moscow, margin 0.5),
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
func Network(t testing.TB, w *World) {
	const tn = "net"
	sess := func(acc, id, person, ts, ch, src, med, camp string) *entity.Session {
		return &entity.Session{Meta: entity.Meta{Tenant: tn, Account: acc}, SessionID: id, ClientID: "c-" + person, PersonID: person,
			Start: At(t, ts), End: At(t, ts) + 60000, DurationMS: 60000, Hits: 2, Channel: ch, Source: src, Medium: med, Campaign: camp,
			FirstEvent: "e-" + id}
	}
	lead := func(acc, id, person, kind, ts string, deals, won int, revenue int64) *entity.Lead {
		return &entity.Lead{Meta: entity.Meta{Tenant: tn, Account: acc}, LeadID: id, PersonID: person, TS: At(t, ts), Kind: kind,
			FirstEvent: "e-" + id, Contacts: 1, LastContactAt: At(t, ts), Touches: 1, Deals: deals, WonDeals: won, RevenueMinor: revenue}
	}
	deal := func(acc, id, person, leadID, outcome string, amount int64, won string) *entity.Deal {
		d := &entity.Deal{Meta: entity.Meta{Tenant: tn, Account: acc}, DealID: id, Provider: "amocrm", CRMDealID: id, PersonID: person,
			LeadID: leadID, CreatedAt: At(t, "2026-03-02T12:00:00Z"), UpdatedAt: At(t, "2026-03-03T12:00:00Z"),
			Outcome: outcome, AmountMinor: amount, Currency: "RUB", Changes: 2}
		if outcome == "won" {
			d.RevenueMinor, d.WonAt = amount, At(t, won)
		}
		return d
	}
	type touch struct {
		session, ch, src, med, camp string
		ts                          string
	}
	attr := func(l *entity.Lead, touches []touch, weights map[string][]float64) []any {
		var out []any
		for _, m := range models {
			w := weights[m]
			for i, tc := range touches {
				out = append(out, &entity.Attribution{Meta: entity.Meta{Tenant: tn, Account: l.Account}, LeadID: l.LeadID, Model: m,
					Touch: i, Touches: len(touches), LeadTS: l.TS, TouchTS: At(t, tc.ts), SessionID: tc.session,
					Channel: tc.ch, Source: tc.src, Medium: tc.med, Campaign: tc.camp,
					Weight: w[i], RevenueMinor: float64(l.RevenueMinor) * w[i]})
			}
		}
		return out
	}
	one := map[string][]float64{}
	for _, m := range models {
		one[m] = []float64{1}
	}
	l1 := lead("msk", "L1", "p1", "form", "2026-03-02T07:10:00Z", 2, 2, 120_000_00)
	l1.Touches = 2
	l2 := lead("msk", "L2", "p2", "call", "2026-03-02T08:20:00Z", 1, 1, 0)
	l3 := lead("msk", "L3", "p3", "form", "2026-03-02T09:05:00Z", 0, 0, 0)
	l4 := lead("spb", "L4", "p5", "form", "2026-03-02T07:40:00Z", 1, 0, 0)
	l5 := lead("spb", "L5", "p7", "call", "2026-03-02T12:00:00Z", 1, 1, 30_000_00)
	for _, l := range []*entity.Lead{l1, l2, l4} {
		l.Channel, l.Source, l.Medium, l.Campaign = "yandex_direct", "yandex", "cpc", "spring" // last_non_direct
	}
	l3.Channel, l3.Source, l3.Medium = "direct", "(direct)", "(none)"
	l5.Channel, l5.Source, l5.Medium = "offline", "+74950000000", "call"

	w.Put(
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
	w.Put(rows...)

	w.Costs(tn, "imp-1", time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC),
		Cost{Account: "msk", Date: "2026-03-02", Channel: "google_ads", Source: "google", Medium: "cpc", Campaign: "brand", Minor: 5_000_00, Clicks: 40, Impressions: 1200})
	w.Costs(tn, "imp-2", time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC),
		Cost{Account: "msk", Date: "2026-03-02", Channel: "google_ads", Source: "google", Medium: "cpc", Campaign: "brand", Minor: 3_000_00, Clicks: 30, Impressions: 1000})
	w.Costs(tn, "imp-3", time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC),
		Cost{Account: "*", Date: "2026-03-02", Channel: "yandex_direct", Source: "yandex", Medium: "cpc", Campaign: "spring", CampaignID: "701", Minor: 9_000_00, Clicks: 90, Impressions: 3000},
		Cost{Account: "*", Date: "2026-03-02", Channel: "vk_ads", Source: "vk", Medium: "cpc", Campaign: "winter", Minor: 1_500_00, Clicks: 10, Impressions: 500})
}

// MarkovNetwork writes the textbook journeys of the data-driven model for
// tenant "mk" (accounts msk and spb), on 2026-04-01 UTC:
//
//	p1 msk  yandex_direct 09:00 → vk_ads 10:00 → telegram 11:00 → lead M1 11:30, won 90 000.00
//	p2 msk  yandex_direct 09:30, no lead
//	p3 spb  vk_ads 12:00 → vk_ads 12:40 → telegram 13:00, no lead (the repeat is one visit)
//
// and what must not count: M1's touch google_ads written first and then
// deleted by a re-statement; p2's google_ads session at 09:40, deleted (a
// session re-cut); p2's google_ads session on 03-25, before the period;
// p4 spb's lead M2 without a touchpoint (attribution "(none)");
// and tenant "other" (account msk, the same person and lead ids) with a
// google_ads lead. By hand: P = 1/3; removal effects yandex_direct 0.5,
// vk_ads 1, telegram 1; shares 0.2, 0.4, 0.4.
func MarkovNetwork(t testing.TB, w *World) {
	sess := func(tn, acc, id, person, ts, ch string) *entity.Session {
		return &entity.Session{Meta: entity.Meta{Tenant: tn, Account: acc}, SessionID: id, ClientID: "c-" + person, PersonID: person,
			Start: At(t, ts), End: At(t, ts) + 60000, DurationMS: 60000, Hits: 1, Channel: ch, FirstEvent: "e-" + id}
	}
	lead := func(tn, acc, id, person, ts string, revenue int64) *entity.Lead {
		won := 0
		if revenue > 0 {
			won = 1
		}
		return &entity.Lead{Meta: entity.Meta{Tenant: tn, Account: acc}, LeadID: id, PersonID: person, TS: At(t, ts), Kind: "form",
			FirstEvent: "e-" + id, Contacts: 1, LastContactAt: At(t, ts), Deals: won, WonDeals: won, RevenueMinor: revenue}
	}
	linear := func(l *entity.Lead, touch, touches int, s *entity.Session) *entity.Attribution {
		a := &entity.Attribution{Meta: l.Meta, LeadID: l.LeadID, Model: "linear", Touch: touch, Touches: touches, LeadTS: l.TS,
			Channel: "(none)", Source: "(none)", Medium: "(none)", Weight: 1 / float64(touches),
			RevenueMinor: float64(l.RevenueMinor) / float64(touches)}
		if s != nil {
			a.TouchTS, a.SessionID, a.Channel = s.Start, s.SessionID, s.Channel
		}
		return a
	}
	const tn = "mk"
	s1 := sess(tn, "msk", "m1", "p1", "2026-04-01T09:00:00Z", "yandex_direct")
	s2 := sess(tn, "msk", "m2", "p1", "2026-04-01T10:00:00Z", "vk_ads")
	s3 := sess(tn, "msk", "m3", "p1", "2026-04-01T11:00:00Z", "telegram")
	g := sess(tn, "msk", "m0", "p1", "2026-04-01T08:00:00Z", "google_ads")
	m1 := lead(tn, "msk", "M1", "p1", "2026-04-01T11:30:00Z", 90_000_00)
	m2 := lead(tn, "spb", "M2", "p4", "2026-04-01T15:00:00Z", 0)
	// M1 as first stitched: four touches, google_ads first; then re-stated.
	w.Put(g, m1, linear(m1, 0, 4, g), linear(m1, 1, 4, s1), linear(m1, 2, 4, s2), linear(m1, 3, 4, s3))
	gone := *g
	gone.Deleted = true
	w.Put(&gone, s1, s2, s3, linear(m1, 0, 3, s1), linear(m1, 1, 3, s2), linear(m1, 2, 3, s3))
	stale := linear(m1, 3, 4, s3)
	stale.Deleted = true
	recut := sess(tn, "msk", "m10", "p2", "2026-04-01T09:40:00Z", "google_ads")
	w.Put(recut)
	recut.Deleted = true
	w.Put(stale, recut,
		sess(tn, "msk", "m4", "p2", "2026-04-01T09:30:00Z", "yandex_direct"),
		sess(tn, "msk", "m5", "p2", "2026-03-25T09:30:00Z", "google_ads"),
		sess(tn, "spb", "m6", "p3", "2026-04-01T12:00:00Z", "vk_ads"),
		sess(tn, "spb", "m7", "p3", "2026-04-01T12:40:00Z", "vk_ads"),
		sess(tn, "spb", "m8", "p3", "2026-04-01T13:00:00Z", "telegram"),
		m2, linear(m2, 0, 1, nil))
	// Another tenant: same ids, a converting google_ads journey and a null
	// telegram one.
	o := sess("other", "msk", "m1", "p1", "2026-04-01T09:00:00Z", "google_ads")
	ol := lead("other", "msk", "M1", "p1", "2026-04-01T09:10:00Z", 5_000_00)
	w.Put(o, sess("other", "msk", "m9", "p9", "2026-04-01T09:00:00Z", "telegram"), ol, linear(ol, 0, 1, o))
}
