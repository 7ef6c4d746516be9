package collector

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/services/collector/internal/leases"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/intake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A pool of three for the restart tests.
const (
	restoreNumber1 = "+74951110001"
	restoreNumber2 = "+74951110002"
	restoreNumber3 = "+74951110003"
)

const restoreYAML = `
tenants:
  - id: acme
    accounts:
      - id: moscow
        write_keys: [` + keyMoscow + `]
        call_tracking:
          - provider: generic
            number_pool: {numbers: [` + restoreNumber1 + `, ` + restoreNumber2 + `, ` + restoreNumber3 + `], replace: ["+74950000000"]}
`

// newPoolCollector is a collector of restoreYAML on its own producer, as a
// freshly started process would be; it has not restored its leases yet.
func newPoolCollector(tb testing.TB, k *testKafka, cfg Config, log zerolog.Logger) *Collector {
	tb.Helper()
	tc, err := tenants.Parse([]byte(restoreYAML))
	if err != nil {
		tb.Fatal(err)
	}
	tel, err := telemetry.New(log, "collector-test")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := New(cfg, Deps{Tel: tel, Producer: k.producer(tb, 1000), Keys: tenants.NewKeys(tc), Tenants: tc})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// startPoolServer starts a collector process: it restores its leases, then serves.
func startPoolServer(tb testing.TB, k *testKafka, cfg Config, log zerolog.Logger) *testServer {
	tb.Helper()
	c := newPoolCollector(tb, k, cfg, log)
	c.RestoreLeases(context.Background())
	return serve(tb, c)
}

func (s *testServer) lease(tb testing.TB, cid string) leases.Reply {
	tb.Helper()
	r, rep := s.numbers(tb, "k="+keyMoscow+"&cid="+cid)
	if r.status != http.StatusOK {
		tb.Fatalf("lease for %s: %d %s", cid, r.status, r.body)
	}
	return rep
}

// leaseEvents are the number_lease events of the raw topic by client id,
// in the order published.
func leaseEvents(tb testing.TB, k *testKafka) map[string][]event.NumberLease {
	tb.Helper()
	out := map[string][]event.NumberLease{}
	for _, e := range decodeAll(tb, k.consume(tb, kafka.TopicRaw, int(k.endOffset(tb, kafka.TopicRaw)))) {
		if e.Type == event.TypeNumberLease {
			out[e.ClientID] = append(out[e.ClientID], *e.Lease)
		}
	}
	return out
}

func assertMetrics(tb testing.TB, s *testServer, want ...string) {
	tb.Helper()
	m := s.metrics(tb)
	for _, w := range want {
		if !strings.Contains(m, w) {
			tb.Errorf("metrics lack %s", w)
		}
	}
}

func TestNumbersLeasesSurviveRestart(t *testing.T) {
	k := startKafka(t)
	first := startPoolServer(t, k, testConfig(), zerolog.Nop())
	a := first.lease(t, "A")
	b := first.lease(t, "B")
	aAgain := first.lease(t, "A") // extended before the restart
	if a.Number != restoreNumber1 || b.Number != restoreNumber2 || aAgain.Number != a.Number {
		t.Fatalf("before the restart: A %s, B %s, A again %s", a.Number, b.Number, aAgain.Number)
	}
	first.srv.Close() // the process stops; its lease table is gone

	var log syncBuffer
	second := startPoolServer(t, k, testConfig(), zerolog.New(&log))
	c := second.lease(t, "C")
	if c.Number != restoreNumber3 {
		t.Fatalf("C got %s after the restart, want the number nobody holds (%s)", c.Number, restoreNumber3)
	}
	a2 := second.lease(t, "A")
	b2 := second.lease(t, "B")
	if a2.Number != a.Number || b2.Number != b.Number || a2.ExpiresAt < aAgain.ExpiresAt {
		t.Fatalf("after the restart A has %s until %d (had %s until %d), B %s (had %s)",
			a2.Number, a2.ExpiresAt, a.Number, aAgain.ExpiresAt, b2.Number, b.Number)
	}

	evs := leaseEvents(t, k)
	as := evs["A"]
	if len(as) != 3 || as[2].From != as[0].From || as[2].To != a2.ExpiresAt || as[2].Shared {
		t.Fatalf("A's leases %+v: after the restart its lease is extended, its start unchanged", as)
	}
	if cs := evs["C"]; len(cs) != 1 || cs[0].Shared {
		t.Fatalf("C's leases %+v", cs)
	}
	assertMetrics(t, second,
		`throughline_collector_number_leases_restored_total 2`,
		`throughline_collector_number_leases_restore_duration_seconds_count{outcome="complete"`,
		`kind="extended"`)
	if strings.Contains(second.metrics(t), `number_pool_exhausted_total{`) {
		t.Error("a pool was exhausted")
	}
	if !strings.Contains(log.String(), `"leases":2,`) || !strings.Contains(log.String(), `"message":"number leases restored"`) {
		t.Errorf("restore log: %s", log.String())
	}
}

// publishLease writes a number_lease event as a collector published it at at.
func publishLease(t *testing.T, k *testKafka, cid, number string, from, to, at time.Time) {
	t.Helper()
	recs, err := (&Collector{personal: newPersonal(nil)}).envelopeRecords([]event.Envelope{{
		V: event.Version, ID: "lease-" + cid + "-" + strconv.FormatInt(at.UnixMilli(), 10), Tenant: "acme", Account: "moscow",
		Type: event.TypeNumberLease, Source: leases.Source, TS: at.UnixMilli(), ReceivedAt: at.UnixMilli(), ClientID: cid,
		Lease: &event.NumberLease{Number: number, From: from.UnixMilli(), To: to.UnixMilli()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	recs[0].Timestamp = at // a client without ProducerOpts: its delivery timeout would count from this
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.client(t).ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestNumbersRestoreSkipsEndedLeases(t *testing.T) {
	k := startKafka(t)
	now := time.Now()
	lease := tenants.DefaultLease
	// Published an hour ago and long over: outside what a restore reads.
	publishLease(t, k, "old", restoreNumber2, now.Add(-time.Hour), now.Add(-time.Hour+lease), now.Add(-time.Hour))
	// Published within the lease time but over: its number is free.
	gone := now.Add(-lease - 30*time.Second)
	publishLease(t, k, "gone", restoreNumber1, gone, gone.Add(lease), gone)
	// Running: B holds number 3 for 25 more minutes.
	bFrom := now.Add(-5 * time.Minute).Truncate(time.Millisecond)
	publishLease(t, k, "B", restoreNumber3, bFrom, bFrom.Add(lease), bFrom)
	// A number taken out of the pool since.
	publishLease(t, k, "X", "+74959999999", bFrom, bFrom.Add(lease), bFrom)

	s := startPoolServer(t, k, testConfig(), zerolog.Nop())
	// Number 2 was never leased as far as the restore knows, number 1 was
	// released: the never leased goes first, then the released one.
	c := s.lease(t, "C")
	d := s.lease(t, "D")
	b := s.lease(t, "B")
	if c.Number != restoreNumber2 || d.Number != restoreNumber1 || b.Number != restoreNumber3 {
		t.Fatalf("C %s, D %s, B %s", c.Number, d.Number, b.Number)
	}
	evs := leaseEvents(t, k)
	if ds := evs["D"]; len(ds) != 1 || ds[0].Shared {
		t.Fatalf("D's lease %+v: the ended lease still held number 1", ds)
	}
	if bs := evs["B"]; len(bs) != 2 || bs[1].From != bFrom.UnixMilli() {
		t.Fatalf("B's leases %+v: its running lease was not restored", bs)
	}
}

func TestNumbersRestoreEmptyTopic(t *testing.T) {
	k := startKafka(t)
	s := startPoolServer(t, k, testConfig(), zerolog.Nop())
	if a := s.lease(t, "A"); a.Number != restoreNumber1 {
		t.Fatalf("A got %s", a.Number)
	}
	assertMetrics(t, s, `throughline_collector_number_leases_restore_duration_seconds_count{outcome="complete"`)
}

func TestNumbersUnavailableWhileRestoring(t *testing.T) {
	k := startKafka(t)
	c := newPoolCollector(t, k, testConfig(), zerolog.Nop())
	s := serve(t, c)
	restore := c.leases.Begin() // as Serve does before it serves
	if c.leases.Begin() != nil {
		t.Fatal("a second restore began")
	}
	r, _ := s.numbers(t, "k="+keyMoscow+"&cid=A")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "restored") {
		t.Fatalf("while restoring: %d %s %v", r.status, r.body, r.header)
	}
	ready, _ := http.NewRequest("GET", s.srv.URL+"/readyz", nil)
	if r := s.do(t, ready); r.status == http.StatusOK {
		t.Fatalf("ready while restoring: %s", r.body)
	}
	assertGIF(t, s.pixel(t, "k="+keyMoscow+"&cid=A", nil)) // the rest is served meanwhile

	restore(context.Background(), false)
	if r := s.do(t, ready); r.status != http.StatusOK {
		t.Fatalf("not ready after the restore: %d %s", r.status, r.body)
	}
	if a := s.lease(t, "A"); a.Number != restoreNumber1 {
		t.Fatalf("A got %s", a.Number)
	}
	assertMetrics(t, s, `throughline_collector_rejected_total{field="",reason="restoring",source="numbers"} 1`)
}

// When Kafka does not answer within the timeout the collector serves with
// what it read, warns and counts it.
func TestNumbersRestoreTimeout(t *testing.T) {
	k := startKafka(t)
	first := startPoolServer(t, k, testConfig(), zerolog.Nop())
	if a := first.lease(t, "A"); a.Number != restoreNumber1 {
		t.Fatalf("A got %s", a.Number)
	}
	first.srv.Close()

	// The broker stops answering fetches.
	k.cluster.Swallow(kmsg.Fetch)
	cfg := testConfig()
	cfg.LeaseRestoreTimeout = time.Second
	var log syncBuffer
	s := startPoolServer(t, k, cfg, zerolog.New(&log))
	if c := s.lease(t, "C"); c.Number != restoreNumber1 {
		t.Fatalf("C got %s: nothing was read, so the pool starts over", c.Number)
	}
	assertMetrics(t, s, `throughline_collector_number_leases_restore_duration_seconds_count{outcome="timeout"`)
	if l := log.String(); !strings.Contains(l, `"level":"warn"`) || !strings.Contains(l, `"outcome":"timeout"`) {
		t.Errorf("restore log: %s", l)
	}
}

// Serve restores the leases itself while it serves.
func TestServeRestoresLeases(t *testing.T) {
	k := startKafka(t)
	first := startPoolServer(t, k, testConfig(), zerolog.Nop())
	a := first.lease(t, "A")
	first.srv.Close()

	c := newPoolCollector(t, k, testConfig(), zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, ln) }()
	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, leases.Reply) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, leases.Reply{}
		}
		defer resp.Body.Close()
		var rep leases.Reply
		json.NewDecoder(resp.Body).Decode(&rep)
		return resp.StatusCode, rep
	}
	eventually.True(t, 10*time.Second, "the leases to be restored", func() bool { status, _ := get("/readyz"); return status == http.StatusOK })
	_, b := get("/v1/numbers?k=" + keyMoscow + "&cid=B")
	_, a2 := get("/v1/numbers?k=" + keyMoscow + "&cid=A")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	client.CloseIdleConnections()
	if b.Number != restoreNumber2 || a2.Number != a.Number {
		t.Fatalf("after Serve restored: A %s (had %s), B %s", a2.Number, a.Number, b.Number)
	}
}

// BenchmarkRestoreLeases: a starting collector reading back 10,000 leases
// from the leases topic, and — falling back, as after an upgrade — from the
// raw topic, alone and among 100,000 other records (page views) of the lease
// time.
// Run: go test -run '^$' -bench RestoreLeases ./services/collector
func BenchmarkRestoreLeases(b *testing.B) {
	for _, bc := range []struct {
		name  string
		topic string
		other int
	}{{"topic=numbers", kafka.TopicNumbers, 0}, {"topic=raw/other=0", kafka.TopicRaw, 0}, {"topic=raw/other=100000", kafka.TopicRaw, 100_000}} {
		b.Run(bc.name, func(b *testing.B) {
			const nLeases = 10_000
			other := bc.other
			k := startKafka(b)
			now := time.Now().Add(-10 * time.Minute)
			var recs []*kgo.Record
			if bc.topic == kafka.TopicNumbers {
				// A record from before the window: the topic is not new, no fallback.
				old := &kgo.Record{Topic: kafka.TopicNumbers, Key: []byte("acme/moscow"), Timestamp: now.Add(-2 * time.Hour), Value: []byte("{}")}
				if err := k.client(b).ProduceSync(context.Background(), old).FirstErr(); err != nil {
					b.Fatal(err)
				}
			}
			for i := range nLeases + other {
				at := now.Add(time.Duration(i) * time.Millisecond)
				e := event.Envelope{V: event.Version, ID: "e" + strconv.Itoa(i), Tenant: "acme", Account: "moscow",
					Type: "page_view", Source: intake.SourcePixel, TS: at.UnixMilli(), ReceivedAt: at.UnixMilli(),
					ClientID: "c" + strconv.Itoa(i%5000), URL: "https://shop.example/catalog?utm_source=yandex&utm_medium=cpc"}
				if i%(1+other/nLeases) == 0 {
					e.Type, e.Source = event.TypeNumberLease, leases.Source
					e.Lease = &event.NumberLease{Number: restoreNumber1, From: at.UnixMilli(), To: at.Add(30 * time.Minute).UnixMilli()}
				}
				r, err := (&Collector{personal: newPersonal(nil)}).envelopeRecords([]event.Envelope{e})
				if err != nil {
					b.Fatal(err)
				}
				r[0].Topic = bc.topic
				recs = append(recs, r...)
			}
			cl := k.producer(b, len(recs))
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				c := newPoolCollector(b, k, testConfig(), zerolog.Nop())
				c.RestoreLeases(context.Background())
				if c.leases.Pools().Live(time.Now()) != 1 {
					b.Fatal("the lease was not restored")
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
