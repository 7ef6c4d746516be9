package collector

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throughline/throughline/services/collector/internal/leases"

	"github.com/rs/zerolog"
	segkafka "github.com/segmentio/kafka-go"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startFollowing starts a collector process as Serve runs it: it restores
// its leases, then serves and follows the other collectors' leases.
func startFollowing(t *testing.T, k *testKafka, cfg Config, log zerolog.Logger) *testServer {
	t.Helper()
	c := newPoolCollector(t, k, cfg, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	run := c.leases.Begin() // as RunLeases does, before the test looks at readiness
	go func() {
		defer close(done)
		run(ctx, true)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	eventually.True(t, 10*time.Second, "the leases to be restored", c.leases.Ready)
	return serve(t, c)
}

// holder is the client holding number in s's table now ("" if none).
func (s *testServer) holder(number string) string {
	return s.c.leases.Pools().For("acme", "moscow").Holder(number, time.Now())
}

func TestNumbersLeasesSharedBetweenCollectors(t *testing.T) {
	k := startKafka(t)
	s1 := startFollowing(t, k, testConfig(), zerolog.Nop())
	s2 := startFollowing(t, k, testConfig(), zerolog.Nop())

	a := s1.lease(t, "A")
	if a.Number != restoreNumber1 {
		t.Fatalf("A got %s", a.Number)
	}
	eventually.True(t, 10*time.Second, "collector 2 to learn A's lease", func() bool { return s2.holder(restoreNumber1) == "A" })
	if b := s2.lease(t, "B"); b.Number != restoreNumber2 {
		t.Fatalf("B got %s on collector 2, want the number A does not hold", b.Number)
	}
	// A's next page asks the other collector: it keeps its number.
	a2 := s2.lease(t, "A")
	if a2.Number != a.Number || a2.ExpiresAt < a.ExpiresAt {
		t.Fatalf("A on collector 2: %+v, had %+v", a2, a)
	}
	eventually.True(t, 10*time.Second, "collector 1 to learn B's lease", func() bool { return s1.holder(restoreNumber2) == "B" })
	if c := s1.lease(t, "C"); c.Number != restoreNumber3 {
		t.Fatalf("C got %s on collector 1", c.Number)
	}

	// Each applied the other's leases, not its own.
	eventually.True(t, 10*time.Second, "collector 1 to apply collector 2's two leases", func() bool {
		return strings.Contains(s1.metrics(t), `throughline_collector_number_leases_from_peers_total{result="taken"} 2`)
	})
	eventually.True(t, 10*time.Second, "collector 2 to apply collector 1's two leases", func() bool {
		return strings.Contains(s2.metrics(t), `throughline_collector_number_leases_from_peers_total{result="taken"} 2`)
	})
	eventually.True(t, 10*time.Second, "the leases topic to hold all four leases", func() bool { return k.endOffset(t, kafka.TopicNumbers) == 4 })
	eventually.True(t, 10*time.Second, "collector 1's two leases to be acknowledged", func() bool {
		return strings.Contains(s1.metrics(t), `throughline_collector_number_leases_announced_total{outcome="published"} 2`)
	})
	assertMetrics(t, s1, `throughline_collector_number_leases_follow_errors_total 0`, `throughline_collector_number_leases_follow_lag `,
		`throughline_collector_number_leases_follow_delay_seconds_count 2`)
	if m := s1.metrics(t) + s2.metrics(t); strings.Contains(m, `number_leases_conflicts_total{`) || strings.Contains(m, `number_pool_exhausted_total{`) {
		t.Error("a conflict or an exhausted pool")
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 4 {
		t.Fatalf("%d records on the raw topic, want the four leases", n)
	}
}

// publishPeerLease writes a lease to the leases topic as another collector
// publishes it.
func publishPeerLease(t *testing.T, k *testKafka, cid, number string, from, to, at time.Time) {
	t.Helper()
	recs, err := (&Collector{personal: newPersonal(nil)}).envelopeRecords([]event.Envelope{{
		V: event.Version, ID: "peer-" + cid, Tenant: "acme", Account: "moscow",
		Type: event.TypeNumberLease, Source: leases.Source, TS: at.UnixMilli(), ReceivedAt: at.UnixMilli(), ClientID: cid,
		Lease: &event.NumberLease{Number: number, From: from.UnixMilli(), To: to.UnixMilli()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	r.Topic, r.Timestamp = kafka.TopicNumbers, at
	r.Headers = []kgo.RecordHeader{{Key: leases.HeaderInstance, Value: []byte("peer")}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.client(t).ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Another collector leased the number X holds, about when X got it, and its
// lease ends later: both keep that one, and X moves to another number.
func TestNumbersConflictingLeaseFromPeer(t *testing.T) {
	k := startKafka(t)
	var log syncBuffer
	s := startFollowing(t, k, testConfig(), zerolog.New(&log))
	x := s.lease(t, "X")
	to := time.UnixMilli(x.ExpiresAt)
	publishPeerLease(t, k, "Y", x.Number, to.Add(-30*time.Minute+time.Millisecond), to.Add(time.Millisecond), time.Now())
	eventually.True(t, 10*time.Second, "the conflicting lease to be applied", func() bool {
		return strings.Contains(s.metrics(t), `throughline_collector_number_leases_from_peers_total{result="conflict"} 1`)
	})
	if h := s.holder(x.Number); h != "Y" {
		t.Fatalf("%s holds %s, want Y: its lease ends later", h, x.Number)
	}

	if x2 := s.lease(t, "X"); x2.Number == x.Number {
		t.Fatalf("X kept %s, which Y's later lease holds", x.Number)
	}
	if y := s.lease(t, "Y"); y.Number != x.Number || y.ExpiresAt <= x.ExpiresAt {
		t.Fatalf("Y on this collector: %+v", y)
	}
	assertMetrics(t, s, `throughline_collector_number_leases_conflicts_total{account="moscow",tenant="acme"} 1`)
	if !strings.Contains(log.String(), `"message":"number leased by two collectors at once, the later lease keeps it"`) {
		t.Errorf("log: %s", log.String())
	}
}

// A starting collector reads the leases topic, not the raw topic, once the
// former holds leases older than the window.
func TestNumbersRestoreReadsLeasesTopic(t *testing.T) {
	k := startKafka(t)
	now := time.Now()
	lease := 30 * time.Minute
	old := now.Add(-time.Hour)
	publishPeerLease(t, k, "old", restoreNumber2, old, old.Add(lease), old)
	bFrom := now.Add(-5 * time.Minute).Truncate(time.Millisecond)
	publishPeerLease(t, k, "B", restoreNumber3, bFrom, bFrom.Add(lease), bFrom)
	// Only on the raw topic, which this start does not read.
	publishLease(t, k, "R", restoreNumber1, bFrom, bFrom.Add(lease), bFrom)

	var log syncBuffer
	s := startPoolServer(t, k, testConfig(), zerolog.New(&log))
	c, d, b := s.lease(t, "C"), s.lease(t, "D"), s.lease(t, "B")
	if c.Number != restoreNumber1 || d.Number != restoreNumber2 || b.Number != restoreNumber3 {
		t.Fatalf("C %s, D %s, B %s: want 1 (never leased as the leases topic tells), 2, B's 3", c.Number, d.Number, b.Number)
	}
	l := log.String()
	if !strings.Contains(l, `"topic":"`+kafka.TopicNumbers+`"`) || strings.Contains(l, "fallback_topic") ||
		!strings.Contains(l, `"records":1,`) || !strings.Contains(l, `"leases":1,`) {
		t.Errorf("restore log: %s", l)
	}
}

// Upgrading: the leases topic is younger than the window, so leases of the
// collectors that did not write it are only on the raw topic — read both.
func TestNumbersRestoreFallsBackToRawTopic(t *testing.T) {
	k := startKafka(t)
	now := time.Now()
	lease := 30 * time.Minute
	rFrom := now.Add(-10 * time.Minute).Truncate(time.Millisecond)
	publishLease(t, k, "R", restoreNumber1, rFrom, rFrom.Add(lease), rFrom) // an old collector's
	bFrom := now.Add(-2 * time.Minute).Truncate(time.Millisecond)
	publishLease(t, k, "B", restoreNumber3, bFrom, bFrom.Add(lease), bFrom) // a new one's, on both
	publishPeerLease(t, k, "B", restoreNumber3, bFrom, bFrom.Add(lease), bFrom)

	var log syncBuffer
	s := startPoolServer(t, k, testConfig(), zerolog.New(&log))
	if c := s.lease(t, "C"); c.Number != restoreNumber2 {
		t.Fatalf("C got %s, want the number neither R nor B holds", c.Number)
	}
	if l := log.String(); !strings.Contains(l, `"fallback_topic":"`+kafka.TopicRaw+`"`) || !strings.Contains(l, `"leases":2,`) {
		t.Errorf("restore log: %s", l)
	}
}

// The other collectors' copy of a lease failing to reach Kafka does not
// fail the visitor's lease: it is on the raw topic, logged and counted.
func TestNumbersAnnounceFailureKeepsTheLease(t *testing.T) {
	k := startKafka(t)
	cfg := testConfig()
	cfg.PublishTimeout = time.Second
	var log syncBuffer
	s := startPoolServer(t, k, cfg, zerolog.New(&log))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(k.client(t)).DeleteTopic(ctx, kafka.TopicNumbers); err != nil {
		t.Fatal(err)
	}
	if a := s.lease(t, "A"); a.Number != restoreNumber1 {
		t.Fatalf("A got %s", a.Number)
	}
	eventually.True(t, 10*time.Second, "the failure to be counted", func() bool {
		return strings.Contains(s.metrics(t), `throughline_collector_number_leases_announced_total{outcome="failed"} 1`)
	})
	if evs := leaseEvents(t, k); len(evs["A"]) != 1 {
		t.Fatalf("A's leases on the raw topic: %+v", evs["A"])
	}
	if !strings.Contains(log.String(), `"message":"number lease not announced to the other collectors"`) {
		t.Errorf("log: %s", log.String())
	}
}

// The leases topic is readable by a client that is not franz-go: the same
// number_lease envelopes as on the raw topic, keyed by account.
func TestLeasesTopicReadableByKafkaGo(t *testing.T) {
	k := startKafka(t)
	s := startPoolServer(t, k, testConfig(), zerolog.Nop())
	a := s.lease(t, "A")
	eventually.True(t, 10*time.Second, "the lease on the leases topic", func() bool { return k.endOffset(t, kafka.TopicNumbers) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(k.client(t)).ListEndOffsets(ctx, kafka.TopicNumbers)
	if err != nil {
		t.Fatal(err)
	}
	var partition int32 = -1
	offs.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			partition = o.Partition
		}
	})
	r := segkafka.NewReader(segkafka.ReaderConfig{
		Brokers: []string{k.addr}, Topic: kafka.TopicNumbers, Partition: int(partition), MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("kafka-go reading the lease: %v", err)
	}
	e, err := event.Decode(m.Value)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != "acme/moscow" || e.Type != event.TypeNumberLease || e.ClientID != "A" || e.Lease == nil ||
		e.Lease.Number != a.Number || e.Lease.To != a.ExpiresAt {
		t.Fatalf("key %q envelope %+v lease %+v", m.Key, e, e.Lease)
	}
	var instance string
	for _, h := range m.Headers {
		if h.Key == leases.HeaderInstance {
			instance = string(h.Value)
		}
	}
	if instance != string(s.c.leases.Instance()) {
		t.Fatalf("headers %v", m.Headers)
	}
	if r, _ := s.numbers(t, "k="+keyMoscow+"&cid=B"); r.status != http.StatusOK {
		t.Fatalf("B: %d", r.status)
	}
}

// peerLeases is how many leases of other collectors s has applied.
func peerLeases(tb testing.TB, s *testServer) int {
	tb.Helper()
	n := 0
	for _, line := range strings.Split(s.metrics(tb), "\n") {
		if rest, ok := strings.CutPrefix(line, "throughline_collector_number_leases_from_peers_total{"); ok {
			v, err := strconv.Atoi(rest[strings.LastIndexByte(rest, ' ')+1:])
			if err != nil {
				tb.Fatalf("%q: %v", line, err)
			}
			n += v
		}
	}
	return n
}

// Visitors asking two collectors at once, more of them than the pool has
// numbers: whatever the races, once each collector has applied the other's
// leases both tables give every number to the same visitor.
func TestNumbersCollectorsConverge(t *testing.T) {
	k := startKafka(t)
	servers := []*testServer{startFollowing(t, k, testConfig(), zerolog.Nop()), startFollowing(t, k, testConfig(), zerolog.Nop())}
	const visitors = 24
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		leased [2]int
		failed []string
	)
	for i := range visitors {
		wg.Go(func() {
			s := servers[i%2]
			req, _ := http.NewRequest("GET", s.srv.URL+"/v1/numbers?k="+keyMoscow+"&cid=v"+strconv.Itoa(i), nil)
			resp, err := s.client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, err.Error())
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed = append(failed, resp.Status)
				return
			}
			leased[i%2]++
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("failed leases: %v", failed)
	}
	eventually.True(t, 10*time.Second, "each collector to apply the other's leases", func() bool {
		return peerLeases(t, servers[0]) == leased[1] && peerLeases(t, servers[1]) == leased[0]
	})
	for _, n := range []string{restoreNumber1, restoreNumber2, restoreNumber3} {
		if h0, h1 := servers[0].holder(n), servers[1].holder(n); h0 != h1 || h0 == "" {
			t.Errorf("%s: collector 1 gives it to %q, collector 2 to %q", n, h0, h1)
		}
	}
}
