package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// sender is an outside client as a well-behaved sender writes one: batches
// of events with ids of its own, and a batch whose answer it did not get (a
// dropped connection, a 5xx) is sent again with the same ids and times until
// it is acknowledged. Each batch is two visitors: a landing page with a click
// id, a second page and a form with a phone each.
type sender struct {
	collector, prefix string
	keys              []string // batches go round the accounts

	seq      atomic.Int64
	inFlight atomic.Int32
	client   *http.Client

	mu         sync.Mutex
	acked      []string // ids of acknowledged events
	clients    []string // visitors of acknowledged batches
	batches    int
	ambiguous  int // attempts without an answer, or answered 5xx
	duplicates int // repeats the collector reported
}

func newSender(collector string, keys []string, prefix string) *sender {
	return &sender{collector: collector, keys: keys, prefix: prefix,
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
}

func (s *sender) batch() ([]map[string]any, []string, []string) {
	var events []map[string]any
	var ids, cids []string
	now := time.Now().UnixMilli()
	for range 2 {
		i := s.seq.Add(1)
		cid := fmt.Sprintf("%s-c%d", s.prefix, i)
		cids = append(cids, cid)
		for j, ev := range []map[string]any{
			{"type": "pageview", "ts": now, "client_id": cid, "url": "https://branch.example/?utm_source=yandex&utm_medium=cpc&yclid=" + cid},
			{"type": "pageview", "ts": now + 1000, "client_id": cid, "url": "https://branch.example/prices"},
			{"type": "goal", "name": "form_submit", "ts": now + 2000, "client_id": cid, "phone": fmt.Sprintf("+7916%07d", i%10_000_000)},
		} {
			ev["id"] = fmt.Sprintf("%s-%d-%d", s.prefix, i, j)
			ids = append(ids, ev["id"].(string))
			events = append(events, ev)
		}
	}
	return events, ids, cids
}

// send posts one batch until it is acknowledged or ctx ends.
func (s *sender) send(ctx context.Context) {
	events, ids, cids := s.batch()
	key := s.keys[int(s.seq.Load())%len(s.keys)]
	body, _ := json.Marshal(events)
	backoff := 20 * time.Millisecond
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+s.collector+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		s.inFlight.Add(1)
		resp, err := s.client.Do(req)
		s.inFlight.Add(-1)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				var ans struct{ Accepted, Duplicates int }
				json.Unmarshal(b, &ans)
				s.mu.Lock()
				s.acked = append(s.acked, ids...)
				s.clients = append(s.clients, cids...)
				s.batches++
				s.duplicates += ans.Duplicates
				s.mu.Unlock()
				return
			}
			if resp.StatusCode/100 == 4 {
				panic(fmt.Sprintf("batch refused: %d %s", resp.StatusCode, b))
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.ambiguous++
		s.mu.Unlock()
		time.Sleep(backoff)
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// run sends batches from workers until stop is closed; a batch begun is
// sent until acknowledged (or ctx ends).
func (s *sender) run(ctx context.Context, stop <-chan struct{}, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				s.send(ctx)
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return &wg
}

// TestChaosRetriedBatchesLandOnce: the all-in-one is SIGKILLed several times
// while batches are in flight and restarted at once; the sender retries
// every batch it got no answer for with the same ids. Some of those had
// reached Kafka before the kill. The collector runs without its start-up
// read of recent ids, so those retries are written to Kafka again and the
// loader's deduplication — itself killed mid-flush — is what keeps them out
// (the read is TestRestartedCollectorKnowsRecentIDs'). Afterwards every
// acknowledged id is in events exactly once, nothing is doubled in the
// entity tables, no repeat was dead-lettered, and the sessions' hits are the
// distinct hits sent.
func TestChaosRetriedBatchesLandOnce(t *testing.T) {
	n := newNode(t)
	n.start("--collector-dedup-restore=0")
	s := newSender(n.collector, n.writeKeys(), "chaos")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := make(chan struct{})
	wg := s.run(ctx, stop, 4)

	const kills = 3
	for range kills {
		time.Sleep(time.Duration(1000+rand.IntN(1000)) * time.Millisecond)
		// Land the kill while requests are in flight.
		for deadline := time.Now().Add(2 * time.Second); s.inFlight.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		n.kill()
		n.start("--collector-dedup-restore=0")
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("batches were not acknowledged within 90 s")
	}
	s.mu.Lock()
	acked, clients := s.acked, s.clients
	t.Logf("chaos: %d kills, %d batches (%d events) acknowledged, %d ambiguous attempts retried, %d duplicates answered",
		kills, s.batches, len(acked), s.ambiguous, s.duplicates)
	s.mu.Unlock()
	if s.batches < 20 {
		t.Fatalf("only %d batches acknowledged; the load did not run", s.batches)
	}
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", tail(n.logs.String(), 4000))
		}
	}()

	n.checkOnce(t, "chaos", acked, clients)
}

// checkOnce asserts what both chaos tests promise: every acknowledged id of
// the prefix in events exactly once, one session and one lead per visitor,
// the sessions' hits the distinct hits sent, no repeat dead-lettered.
func (n *node) checkOnce(t *testing.T, prefix string, acked, clients []string) {
	t.Helper()
	// Every acknowledged id arrives, once.
	mine := "startsWith(event_id, '" + prefix + "-')"
	n.waitCount("SELECT uniqExact(event_id) FROM throughline.events WHERE "+mine, len(acked), 60*time.Second)
	seen := n.idCounts("SELECT groupArray(event_id) FROM throughline.events WHERE " + mine)
	lost, doubled := 0, 0
	for _, id := range acked {
		if seen[id] == 0 {
			lost++
		}
	}
	for _, c := range seen {
		if c > 1 {
			doubled++
		}
	}
	t.Logf("%s: %d acknowledged, %d lost, %d duplicated in events", prefix, len(acked), lost, doubled)
	if lost != 0 || doubled != 0 || len(seen) != len(acked) {
		t.Fatalf("events: %d of %d acknowledged ids missing, %d ids more than once, %d ids in all", lost, len(acked), doubled, len(seen))
	}
	// How often the key case happened: an id on the raw topic more than
	// once is a batch that reached Kafka and was sent again.
	onRaw := map[string]int{}
	for _, r := range n.records("throughline.raw.v1") {
		var e struct{ ID string }
		if json.Unmarshal(r.Value, &e) == nil && strings.HasPrefix(e.ID, prefix+"-") {
			onRaw[e.ID]++
		}
	}
	repeated := 0
	for _, c := range onRaw {
		if c > 1 {
			repeated++
		}
	}
	t.Logf("%s: %d ids published to the raw topic more than once (answers lost, sent again)", prefix, repeated)
	in := "client_id IN (" + quoted(clients) + ")"
	n.waitCount("SELECT count() FROM throughline.leads_latest WHERE "+in, len(clients), 60*time.Second)
	n.waitCount("SELECT count() FROM throughline.sessions_latest WHERE "+in, len(clients), 10*time.Second)
	for _, q := range []string{
		// One session and one lead per visitor: nothing doubled.
		"SELECT count() FROM (SELECT client_id FROM throughline.sessions_latest WHERE " + in + " GROUP BY client_id HAVING count() != 1)",
		"SELECT count() FROM (SELECT client_id FROM throughline.leads_latest WHERE " + in + " GROUP BY client_id HAVING count() != 1)",
		// A lead's contacts: the one form, however often it was sent.
		"SELECT count() FROM throughline.leads_latest WHERE " + in + " AND contacts != 1",
		// The sessions' hits are the distinct hits sent: three per visitor.
		"SELECT sum(hits) - " + fmt.Sprint(3*len(clients)) + " FROM throughline.sessions_latest WHERE " + in,
		// A repeat is not a dead letter.
		"SELECT count() FROM throughline.dead_letters WHERE position(payload, '" + prefix + "-') > 0",
	} {
		if got := fmt.Sprint(n.query(q)[0][0]); got != "0" {
			t.Fatalf("%s\n= %s, want 0", q, got)
		}
	}
}

// idCounts counts the ids a groupArray query returns.
func (n *node) idCounts(q string) map[string]int {
	rows := n.query(q)
	seen := map[string]int{}
	if len(rows) == 1 {
		ids, _ := rows[0][0].([]any)
		for _, id := range ids {
			seen[fmt.Sprint(id)]++
		}
	}
	return seen
}

// writeKeys returns a server key of every account of the first demo tenant
// (/v1/events takes either kind; the server key is the one a back office holds).
func (n *node) writeKeys() []string {
	n.t.Helper()
	cfg, err := tenants.Load(filepath.Join(n.dataDir, "tenants.yaml"))
	if err != nil {
		n.t.Fatal(err)
	}
	var keys []string
	for _, a := range cfg.Tenants[0].Accounts {
		keys = append(keys, a.ServerKeys[0])
	}
	return keys
}
