package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
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
	var refused atomic.Int64
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second * batch / rate)
		end := time.Now().Add(seconds * time.Second)
		for time.Now().Before(end) {
			<-tick.C
			events := make([]map[string]any, batch)
			for j := range events {
				total++
				events[j] = map[string]any{"id": fmt.Sprintf("fresh-%d", total), "type": "event", "name": "bench", "ts": time.Now().UnixMilli()}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ok, err := postEvents(ctx, n.collector, key, events); !ok || err != nil {
					refused.Add(1)
				}
			}()
		}
		tick.Stop()
		wg.Wait()
	}
	if r := refused.Load(); r > 0 {
		b.Fatalf("%d batches were not acknowledged", r)
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
