package analytics

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

// TestMarkovOnTheEngine builds the textbook journeys as sessions, leads and
// attribution rows (testnet.MarkovNetwork) and checks the report against
// the shares computed by hand in TestMarkovTextbook.
func TestMarkovOnTheEngine(t *testing.T) {
	w := testnet.New(t, engine)
	testnet.MarkovNetwork(t, w)
	reports := NewReports(engine, w.DB, nil)
	day := MarkovQuery{Tenant: "mk", From: testnet.Date(t, "2026-04-01"), To: testnet.Date(t, "2026-04-02")}

	paths, untouched, err := reports.MarkovPaths(context.Background(), day)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		got = append(got, fmt.Sprintf("%v %d %d %d", p.Channels, p.Conversions, p.Nulls, p.RevenueMinor))
	}
	// Sorted by the JSON of the path; p3's repeated vk_ads is still there
	// (the model collapses it).
	want := []string{
		"[vk_ads vk_ads telegram] 0 1 0",
		"[yandex_direct vk_ads telegram] 1 0 9000000",
		"[yandex_direct] 0 1 0",
	}
	if !slices.Equal(got, want) || untouched != 1 {
		t.Fatalf("paths (untouched %d):\n%v\nwant\n%v", untouched, got, want)
	}

	rep, err := reports.Markov(context.Background(), day)
	if err != nil {
		t.Fatal(err)
	}
	if !near(rep.ConversionProbability, 1.0/3) || rep.Conversions != 1 || rep.RevenueMinor != 90_000_00 ||
		rep.Paths != 3 || rep.ConvertingPaths != 1 || rep.DistinctPaths != 3 || rep.UntouchedLeads != 1 {
		t.Fatalf("report %+v", rep)
	}
	hand := map[string][2]float64{"yandex_direct": {0.5, 0.2}, "vk_ads": {1, 0.4}, "telegram": {1, 0.4}}
	if len(rep.Channels) != len(hand) {
		t.Fatalf("channels %+v", rep.Channels)
	}
	for _, c := range rep.Channels {
		h := hand[c.Channel]
		if !near(c.RemovalEffect, h[0]) || !near(c.Share, h[1]) || !near(c.Conversions, h[1]) || !near(c.RevenueMinor, h[1]*90_000_00) {
			t.Errorf("%s: %+v, want removal effect %v, share %v", c.Channel, c, h[0], h[1])
		}
	}

	// One account: msk alone has p1's conversion and p2's yandex journey.
	msk := day
	msk.Account = "msk"
	rep, err = reports.Markov(context.Background(), msk)
	if err != nil {
		t.Fatal(err)
	}
	// start→yandex 1; yandex→vk ½, →null ½; vk→telegram 1; telegram→conv 1:
	// P ½, and removing any of the three loses everything: ⅓ each.
	if !near(rep.ConversionProbability, 0.5) || len(rep.Channels) != 3 || rep.UntouchedLeads != 0 {
		t.Fatalf("msk: %+v", rep)
	}
	for _, c := range rep.Channels {
		if !near(c.Share, 1.0/3) {
			t.Errorf("msk %s: share %v", c.Channel, c.Share)
		}
	}

	// The other tenant sees its own journeys only: google_ads converts,
	// telegram never does (a channel of the chain with share 0).
	rep, err = reports.Markov(context.Background(), MarkovQuery{Tenant: "other", From: day.From, To: day.To})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Channels) != 2 || rep.Channels[0].Channel != "google_ads" || rep.Channels[0].Share != 1 ||
		rep.Channels[1].Channel != "telegram" || rep.Channels[1].Share != 0 || !near(rep.ConversionProbability, 0.5) {
		t.Fatalf("other: %+v", rep)
	}

	// A day without journeys: nothing, no error.
	rep, err = reports.Markov(context.Background(), MarkovQuery{Tenant: "mk", From: day.To, To: day.To.Add(24 * time.Hour)})
	if err != nil || len(rep.Channels) != 0 || rep.Paths != 0 {
		t.Fatalf("empty day: %+v %v", rep, err)
	}
	for _, bad := range []MarkovQuery{{From: day.From, To: day.To}, {Tenant: "mk", From: day.To, To: day.From},
		{Tenant: "mk", From: day.From, To: day.From.Add(MaxMarkovRange + time.Hour)}} {
		if _, err := reports.Markov(context.Background(), bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestMarkovPathsVersionsAndKeys covers what the journeys' SQL encodes: a
// person is (person, account) — the same id in two accounts is two
// journeys, and ids that would run together if concatenated stay apart; a
// session counts in its latest version only (a later start, another
// channel, another person, out of the period); sessions starting in the
// same millisecond go by channel name; a lead excludes its person's
// sessions in its own account only.
func TestMarkovPathsVersionsAndKeys(t *testing.T) {
	w := testnet.New(t, engine)
	const tn = "mkv"
	sess := func(acc, id, person, ts, ch string) *entity.Session {
		return &entity.Session{Meta: entity.Meta{Tenant: tn, Account: acc}, SessionID: id, ClientID: "c-" + person, PersonID: person,
			Start: testnet.At(t, ts), End: testnet.At(t, ts) + 60000, DurationMS: 60000, Hits: 1, Channel: ch, FirstEvent: "e-" + id}
	}
	lead := func(acc, id, person string, revenue int64) *entity.Lead {
		at := testnet.At(t, "2026-05-01T15:00:00Z")
		return &entity.Lead{Meta: entity.Meta{Tenant: tn, Account: acc}, LeadID: id, PersonID: person, TS: at, Kind: "form",
			FirstEvent: "e-" + id, Contacts: 1, LastContactAt: at, RevenueMinor: revenue}
	}
	touch := func(l *entity.Lead, ch string) *entity.Attribution {
		return &entity.Attribution{Meta: l.Meta, LeadID: l.LeadID, Model: pathModel, Touches: 1, LeadTS: l.TS,
			Channel: ch, Source: ch, Medium: ch, Weight: 1, RevenueMinor: float64(l.RevenueMinor)}
	}
	l1, l2 := lead("c", "L1", "a", 100), lead("c", "L2", "q", 0)
	w.Put(
		sess("c", "x1", "ab", "2026-05-01T10:00:00Z", "vk_ads"),
		sess("bc", "x2", "a", "2026-05-01T10:00:00Z", "google_ads"),
		sess("c", "y1", "p", "2026-05-01T09:00:00Z", "yandex_direct"),
		sess("c", "y2", "p", "2026-05-01T11:00:00Z", "zen"),
		sess("c", "y3", "p", "2026-05-01T11:00:00Z", "avito"),
		sess("c", "y4", "p", "2026-05-01T08:00:00Z", "telegram"),
		sess("c", "y5", "p", "2026-05-01T07:00:00Z", "mail"),
		sess("bc", "z1", "p", "2026-05-01T10:00:00Z", "direct"),
		l1, l2,
	)
	w.Put(
		sess("c", "y1", "p", "2026-05-01T12:00:00Z", "organic"),  // re-stated: later, another channel
		sess("c", "y4", "p", "2026-05-03T08:00:00Z", "telegram"), // re-stated out of the period
		sess("c", "y5", "q", "2026-05-01T07:00:00Z", "mail"),     // to q, who has a lead
		touch(l1, "vk_ads"), touch(l2, noTouch),
	)
	paths, untouched, err := NewReports(engine, w.DB, nil).MarkovPaths(context.Background(),
		MarkovQuery{Tenant: tn, From: testnet.Date(t, "2026-05-01"), To: testnet.Date(t, "2026-05-02")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		got = append(got, fmt.Sprintf("%v %d %d %d", p.Channels, p.Conversions, p.Nulls, p.RevenueMinor))
	}
	want := []string{
		"[avito zen organic] 0 1 0",
		"[direct] 0 1 0",
		"[google_ads] 0 1 0",
		"[vk_ads] 1 1 100",
	}
	if !slices.Equal(got, want) || untouched != 1 {
		t.Fatalf("paths (untouched %d):\n%v\nwant\n%v", untouched, got, want)
	}
}
