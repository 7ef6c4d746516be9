package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A pixel hit shows up in ClickHouse, queried through the console, within 2 s.
func TestPixelQueryableWithin2s(t *testing.T) {
	n := newNode(t)
	n.start()
	_, _, key := n.key()
	resp := n.pixel(key, "cid-fresh", "https://branch.example/?utm_source=yandex&utm_medium=cpc&yclid=777")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" {
		t.Fatalf("pixel answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	took := n.waitCount("SELECT count() FROM throughline.events WHERE client_id = 'cid-fresh' AND utm_source = 'yandex' AND yclid = '777'", 1, 2*time.Second)
	t.Logf("pixel visible in events after %v", took)
}

// Restart: rows written before a graceful restart are still there, once.
func TestRestartKeepsRowsOnce(t *testing.T) {
	n := newNode(t)
	n.start()
	_, _, key := n.key()
	for i := 0; i < 50; i++ {
		n.pixel(key, fmt.Sprintf("cid-%d", i), "https://branch.example/")
	}
	n.waitCount("SELECT count() FROM throughline.events", 50, 10*time.Second)
	n.stop()
	n.start()
	n.waitCount("SELECT count() FROM throughline.events", 50, 10*time.Second)
	for i := 50; i < 60; i++ {
		n.pixel(key, fmt.Sprintf("cid-%d", i), "https://branch.example/")
	}
	n.waitCount("SELECT count() FROM throughline.events", 60, 10*time.Second)
	n.waitCount("SELECT uniqExact(_partition, _offset) FROM throughline.events", 60, time.Second)
}

// Crash: SIGKILL under load, restart; every event that got a 2xx is in
// events exactly once.
func TestCrashUnderLoadExactlyOnce(t *testing.T) {
	n := newNode(t)
	n.start()
	_, _, key := n.key()

	var mu sync.Mutex
	var acked []string
	var seq atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				batch := make([]map[string]any, 20)
				ids := make([]string, len(batch))
				for i := range batch {
					ids[i] = fmt.Sprintf("crash-%d", seq.Add(1))
					batch[i] = map[string]any{"id": ids[i], "type": "event", "name": "load", "ts": time.Now().UnixMilli(), "client_id": "c"}
				}
				ok, err := postEvents(ctx, n.collector, key, batch)
				if err == nil && ok {
					mu.Lock()
					acked = append(acked, ids...)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	n.kill()
	cancel()
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d events acknowledged before the kill; the load did not run", len(acked))
	}
	t.Logf("%d events acknowledged before SIGKILL", len(acked))

	n.start()
	// Every acknowledged event must arrive, and no event may be there twice.
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := n.loadedSeqs()
		missing := 0
		for _, id := range acked {
			if seen[id] == 0 {
				missing++
			}
		}
		for id, c := range seen {
			if c > 1 {
				t.Fatalf("event %s is in events %d times after the crash", id, c)
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged events missing after restart\nlogs:\n%s", missing, len(acked), tail(n.logs.String(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And the pipeline still works after recovery.
	n.pixel(key, "after-crash", "https://branch.example/")
	n.waitCount("SELECT count() FROM throughline.events WHERE client_id = 'after-crash'", 1, 5*time.Second)
}

// loadedSeqs counts the crash-test events in ClickHouse by id. The ids come
// back as one array so the console's row limit does not cut the answer.
func (n *node) loadedSeqs() map[string]int {
	rows := n.query("SELECT groupArray(event_id) FROM throughline.events WHERE startsWith(event_id, 'crash-')")
	seen := map[string]int{}
	if len(rows) == 1 {
		ids, _ := rows[0][0].([]any)
		for _, id := range ids {
			seen[fmt.Sprint(id)]++
		}
	}
	return seen
}
