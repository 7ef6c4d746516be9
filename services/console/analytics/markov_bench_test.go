package analytics

import (
	"context"
	"testing"
	"time"
)

// BenchmarkMarkovReport times the data-driven report (the journeys read
// from the entity tables with FINAL, grouped by path, and the chain solved)
// over the benchmark network's 90 days and every branch.
func BenchmarkMarkovReport(b *testing.B) {
	ctx := context.Background()
	benchOnce.Do(func() { benchData, benchErr = buildBenchNet(ctx) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	n := benchData
	reports := NewReports(engine, n.db, moscow)
	q := MarkovQuery{Tenant: "bench", From: n.from, To: n.to.Add(24 * time.Hour)}
	rep, err := reports.Markov(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	if rep.Conversions == 0 || len(rep.Channels) == 0 {
		b.Fatalf("no conversions in the bench network: %+v", rep)
	}
	b.ResetTimer()
	var took []time.Duration
	for range b.N {
		t0 := time.Now()
		if _, err := reports.Markov(ctx, q); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(quantile(took, 0.5), "p50-ms")
	b.ReportMetric(quantile(took, 0.95), "p95-ms")
	b.ReportMetric(float64(rep.Paths), "journeys")
	b.ReportMetric(float64(rep.DistinctPaths), "paths")
	b.ReportMetric(float64(n.sessions), "sessions")
}
