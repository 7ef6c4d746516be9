package demo

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// liveGauge is a meter for Config.Meter and a reader of the gauge
// throughline_demo_live it gets: what /metrics shows of a running demo
// (-1 before the demo registered it). Tests wait on it, not on the log
// line that says the same.
func liveGauge(t *testing.T) (metric.Meter, func() int64) {
	t.Helper()
	m, read := demoGauges(t)
	return m, func() int64 {
		v, ok := read()["throughline_demo_live"]
		if !ok {
			return -1
		}
		return int64(v)
	}
}

// demoGauges is a meter and a reader of every gauge and counter recorded through it,
// by name and attributes: name{k=v,…} (attributes in order).
func demoGauges(t *testing.T) (metric.Meter, func() map[string]float64) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	key := func(name string, set attribute.Set) string {
		if set.Len() == 0 {
			return name
		}
		var kv []string
		for _, a := range set.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.String())
		}
		return name + "{" + strings.Join(kv, ",") + "}"
	}
	return mp.Meter("demo-test"), func() map[string]float64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch g := m.Data.(type) {
				case metricdata.Gauge[int64]:
					for _, p := range g.DataPoints {
						out[key(m.Name, p.Attributes)] = float64(p.Value)
					}
				case metricdata.Gauge[float64]:
					for _, p := range g.DataPoints {
						out[key(m.Name, p.Attributes)] = p.Value
					}
				case metricdata.Sum[int64]:
					for _, p := range g.DataPoints {
						out[key(m.Name, p.Attributes)] = float64(p.Value)
					}
				}
			}
		}
		return out
	}
}

// waitLive polls live until the demo went live (1) or within has passed;
// on a timeout it fails with what describe says of the run.
func waitLive(t *testing.T, live func() int64, within time.Duration, describe func() string) {
	t.Helper()
	for deadline := time.Now().Add(within); live() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not go live within %v: %s", within, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLiveGauge: throughline_demo_live is 0 while the pipeline has still
// to take the history (Config.Behind above zero), 1 once it took it and the
// demo runs live. By then every event of the history was answered: the
// counters say the collector (a fake that takes all) accepted exactly what
// the demo sent.
func TestLiveGauge(t *testing.T) {
	crm := startCRM(t)
	tc := TenantsFor(1, 2, crm.URL())
	fake := newFake(tc)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	meter, read := demoGauges(t)
	live := func() int64 { return int64(read()["throughline_demo_live"]) }
	var behind, reportsAsOf atomic.Int64
	behind.Store(7)
	asked := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{CollectorURL: srv.URL, Rate: 10, Seed: 3, Backfill: 6 * time.Hour, BackfillPerDay: 200,
			SummaryEvery: time.Hour, CRM: crm, CRMTrickle: 2 * time.Second, Meter: meter,
			Behind: func(context.Context) (int64, error) {
				select {
				case asked <- struct{}{}:
				default:
				}
				return behind.Load(), nil
			},
			ReportsAsOf: func() time.Time { return time.Unix(0, reportsAsOf.Load()) },
		}, tc, zerolog.Nop())
	}()
	select {
	case <-asked: // the history is sent; the demo waits for the pipeline
	case <-time.After(30 * time.Second):
		t.Fatal("the demo never asked how far behind the pipeline is")
	}
	m := read()
	if v := m["throughline_demo_live"]; v != 0 {
		t.Errorf("throughline_demo_live = %v while the pipeline is 7 records behind, want 0", v)
	}
	sent, accepted := m["throughline_demo_events_total{outcome=sent}"], m["throughline_demo_events_total{outcome=accepted}"]
	if sent == 0 || accepted != sent || m["throughline_demo_events_total{outcome=failed}"] != 0 {
		t.Errorf("after the history: %v", m)
	}
	// The pipeline caught up; the reports' last round started before.
	reportsAsOf.Store(time.Now().UnixNano())
	behind.Store(0)
	time.Sleep(2 * time.Second) // four polls of the lag: settled
	if v := live(); v != 0 {
		t.Errorf("throughline_demo_live = %v while the reports are older than the history, want 0", v)
	}
	reportsAsOf.Store(time.Now().Add(time.Second).UnixNano()) // a round after it
	waitLive(t, live, 30*time.Second, func() string { return "the reports caught up" })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStoryGauge: throughline_demo_story_timestamp_seconds has no series
// before the live story begins, then each step at the moment the demo
// logged it: the silence's begin and end exactly where the flags put them
// (the demo's ticks land on them), the amounts' end once the managers
// entered them (after the outage's length, when a won deal went without
// its amount).
func TestStoryGauge(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 11, 0, 0, 0, msk)
	d := Defaults()
	s, err := newSim(5, Tenants(1, 20), "live")
	if err != nil {
		t.Fatal(err)
	}
	s.w.store = newCRMStore()
	s.w.story = d.episodes()
	r := &runner{sim: s, log: zerolog.Nop(), st: &stats{}}
	meter, read := demoGauges(t)
	unregister, err := r.metrics(meter)
	if err != nil {
		t.Fatal(err)
	}
	defer unregister()
	s.w.story.start(t0)
	s.w.goLive(t0, 10*time.Minute)
	const name = "throughline_demo_story_timestamp_seconds"
	step := func(episode, phase string) (float64, bool) {
		v, ok := read()[name+"{episode="+episode+",phase="+phase+"}"]
		return v, ok
	}
	end := t0.Add(14 * time.Minute)
	for now := t0; now.Before(end); now = now.Add(20 * time.Millisecond) { // 50 hits a second, as simulateLive
		s.next(now)
		for _, a := range s.w.due(now) {
			for _, h := range a.make(a.due) {
				if h.before != nil {
					h.before()
				}
			}
		}
		r.logStory(now)
		if now == t0 {
			for k := range read() {
				if strings.HasPrefix(k, name) {
					t.Fatalf("%s before the story", k)
				}
			}
		}
	}
	sec := func(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
	for _, c := range []struct {
		episode, phase string
		want           time.Time
	}{
		{"channel silent", "begins", t0.Add(d.SilenceAt)},
		{"channel silent", "ends", t0.Add(d.SilenceAt + d.SilenceFor)},
		{"no deal amounts", "begins", t0.Add(d.NoAmountsAt)},
	} {
		if v, ok := step(c.episode, c.phase); !ok || v != sec(c.want) {
			t.Errorf("%s %s: %v (%v), want %v", c.episode, c.phase, v, ok, sec(c.want))
		}
	}
	if v, ok := step("no deal amounts", "ends"); !ok || v < sec(t0.Add(d.NoAmountsAt+d.NoAmountsFor)) || v >= sec(end) {
		// not exact: when the managers enter the amounts depends on when
		// the simulated network's first deal is won without one.
		t.Errorf("no deal amounts ends: %v (%v), want between %v and %v", v, ok, sec(t0.Add(d.NoAmountsAt+d.NoAmountsFor)), sec(end))
	}
}
