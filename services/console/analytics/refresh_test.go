package analytics

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

func session(t *testing.T, acc, id, ts, ch string) *entity.Session {
	return &entity.Session{Meta: entity.Meta{Tenant: "net", Account: acc}, SessionID: id, PersonID: "p-" + id,
		Start: testnet.At(t, ts), Channel: ch}
}

func accountsOf(st aggregates.RoundStats) []string {
	var out []string
	for _, a := range st.Accounts {
		out = append(out, a.Account)
	}
	return out
}

func TestRefresherRecomputesOnlyChangedAccountsTwice(t *testing.T) {
	w := testnet.New(t, engine)
	ctx := context.Background()
	round := func(r *aggregates.Refresher) aggregates.RoundStats {
		t.Helper()
		st, err := r.Refresh(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	w.Put(session(t, "msk", "s1", "2026-03-02T10:00:00Z", "direct"), session(t, "spb", "s2", "2026-03-02T10:00:00Z", "direct"))
	r, err := aggregates.NewRefresher(aggregates.RefreshConfig{Settle: time.Hour, Lookback: 2 * time.Hour}, aggregates.RefreshDeps{Store: engine, Database: w.DB})
	if err != nil {
		t.Fatal(err)
	}
	if st := round(r); !st.Full || !slices.Equal(accountsOf(st), []string{"msk", "spb"}) {
		t.Fatalf("first round: %+v, want a full round over msk and spb", st)
	}
	w.Put(session(t, "spb", "s3", "2026-03-02T11:00:00Z", "organic"))
	if st := round(r); st.Full || !slices.Equal(accountsOf(st), []string{"spb"}) || !slices.Equal(st.SpendTenants, []string{"net"}) {
		t.Fatalf("after a change in spb: %+v", st)
	}
	// Nothing new, nothing settled: nothing to do.
	for range 2 {
		if st := round(r); len(st.Accounts)+len(st.SpendTenants) != 0 {
			t.Fatalf("an idle round: %+v", st)
		}
	}
	// A refresher that settles at once (a restart, from the recorded
	// watermark): every change in its lookback once, again once settled,
	// then nothing.
	r2, err := aggregates.NewRefresher(aggregates.RefreshConfig{Settle: time.Millisecond, Lookback: 2 * time.Hour}, aggregates.RefreshDeps{Store: engine, Database: w.DB})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]string{{"msk", "spb"}, {"msk", "spb"}, nil} {
		time.Sleep(5 * time.Millisecond)
		if st := round(r2); st.Full || !slices.Equal(accountsOf(st), want) {
			t.Fatalf("restarted round %d: %+v, want %v", i, st, want)
		}
	}
	// A change made while no refresher ran is found after a restart.
	w.Put(session(t, "msk", "s4", "2026-03-02T12:00:00Z", "organic"))
	r3, err := aggregates.NewRefresher(aggregates.RefreshConfig{Settle: time.Hour, Lookback: 2 * time.Hour}, aggregates.RefreshDeps{Store: engine, Database: w.DB})
	if err != nil {
		t.Fatal(err)
	}
	if st := round(r3); st.Full || !slices.Contains(accountsOf(st), "msk") {
		t.Fatalf("after a restart: %+v, want msk without a full round", st)
	}
}

func TestRefresherRecutsDaysWhenTheZoneChanges(t *testing.T) {
	w := testnet.New(t, engine)
	ctx := context.Background()
	// 22:30 UTC on 03-01 is 03-02 in Moscow.
	w.Put(session(t, "msk", "s1", "2026-03-01T22:30:00Z", "direct"))
	if _, err := refresher(t, w, nil).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	day := func() string {
		return toString(w.Query("SELECT toString(day) FROM %s.traffic_daily FINAL", w.DB)[0][0])
	}
	if d := day(); d != "2026-03-01" {
		t.Fatalf("in UTC: %s", d)
	}
	st, err := refresher(t, w, moscow).Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Full || !slices.Equal(accountsOf(st), []string{"msk"}) {
		t.Fatalf("zone change: %+v", st)
	}
	if d := day(); d != "2026-03-02" {
		t.Fatalf("in Moscow: %s", d)
	}
}

func TestRefresherRunStopsWithItsContext(t *testing.T) {
	w := testnet.New(t, engine)
	w.Put(session(t, "msk", "s1", "2026-03-02T10:00:00Z", "direct"))
	r, err := aggregates.NewRefresher(aggregates.RefreshConfig{Interval: 20 * time.Millisecond}, aggregates.RefreshDeps{Store: engine, Database: w.DB})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for toInt64(w.Query("SELECT count() FROM %s.traffic_daily FINAL", w.DB)[0][0]) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the running refresher did not fill traffic_daily")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
