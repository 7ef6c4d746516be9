package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkFreshness sends events at a fixed rate (5k/s by default) through the
// collector for a few seconds and reports how long rows took from the
// collector's acceptance (received_at) to ClickHouse (_loaded_at): p50 and p99.
func BenchmarkFreshness(b *testing.B) {
	n := newNode(b)
	n.start()
	_, _, key := n.key()
	const rate, batch, seconds = 5000, 50, 8
	ctx := context.Background()
	total := 0
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second * batch / rate)
		end := time.Now().Add(seconds * time.Second)
		for time.Now().Before(end) {
			<-tick.C
			events := make([]map[string]any, batch)
			for j := range events {
				total++
				events[j] = map[string]any{"id": fmt.Sprintf("fresh-%d", total), "type": "event", "ts": time.Now().UnixMilli()}
			}
			wg.Add(1)
			go func() { defer wg.Done(); postEvents(ctx, n.collector, key, events) }()
		}
		tick.Stop()
		wg.Wait()
	}
	n.waitCount("SELECT count() FROM throughline.events WHERE startsWith(event_id, 'fresh-')", total, 60*time.Second)
	rows := n.query("SELECT quantiles(0.5, 0.99)(dateDiff('millisecond', received_at, _loaded_at)) FROM throughline.events WHERE startsWith(event_id, 'fresh-')")
	q := rows[0][0].([]any)
	p50, _ := strconv.ParseFloat(fmt.Sprint(q[0]), 64)
	p99, _ := strconv.ParseFloat(fmt.Sprint(q[1]), 64)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(rate, "events/s")
}
