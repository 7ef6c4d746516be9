package collector

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// postEvents is events() for goroutines other than the test's.
func (s *testServer) postEvents(key, body string) (response, error) {
	req, err := http.NewRequest("POST", s.srv.URL+"/v1/events", strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("X-Write-Key", key)
	resp, err := s.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}, err
}

// When Kafka stops acknowledging, the collector holds no more than its
// budget and answers the rest at once with 503 + Retry-After (the pixel with
// its GIF), then recovers when Kafka does.
func TestOverloadShedsLoad(t *testing.T) {
	k := startKafka(t)
	release := k.cluster.Hold(t, kmsg.Produce)
	cfg := testConfig()
	cfg.MaxInFlightRecords = 4
	cfg.MaxBatchEvents = 2
	cfg.MaxBodyBytes = 4096
	cfg.MaxInFlightBytes = 64 << 10
	cfg.PublishTimeout = 20 * time.Second
	s := newServer(t, cfg, k.producer(t, cfg.MaxInFlightRecords))

	// Two batches of two fill the record budget and wait on Kafka.
	var wg sync.WaitGroup
	blocked := make([]response, 2)
	for i := range blocked {
		wg.Go(func() {
			r, err := s.postEvents(keyMoscow, eventsBody(2, i == 1))
			if err != nil {
				t.Error(err)
			}
			blocked[i] = r
		})
	}
	eventually.True(t, 10*time.Second, "the budget to fill", func() bool { r, _ := s.c.pub.InFlight(); return r == 4 })

	start := time.Now()
	const n = 50
	for range n {
		r := s.events(t, keySPb, "", eventsBody(1, false))
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "2" {
			t.Fatalf("under overload: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		assertGIF(t, s.pixel(t, "k="+keySPb+"&cid=c1", nil))
	}
	if d := time.Since(start); d > cfg.PublishTimeout/2 {
		t.Fatalf("shedding %d requests took %v: requests waited on Kafka", 2*n, d)
	}
	if recs, byts := s.c.pub.Peak(); recs > 4 || byts > int64(cfg.MaxInFlightBytes) {
		t.Fatalf("in-flight peak %d records / %d bytes is over the bound", recs, byts)
	}
	m := s.metrics(t)
	for _, want := range []string{
		fmt.Sprintf(`throughline_collector_rejected_total{field="",reason="overload",source="api"} %d`, n),
		fmt.Sprintf(`throughline_collector_rejected_total{field="",reason="overload",source="pixel"} %d`, n),
		fmt.Sprintf(`throughline_collector_dead_letters_total{outcome="dropped_overload",source="pixel"} %d`, n),
		`throughline_collector_inflight_records 4`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	release()
	wg.Wait()
	for i, r := range blocked {
		if r.status != http.StatusAccepted {
			t.Fatalf("blocked batch %d: %d %s", i, r.status, r.body)
		}
	}
	if got := k.endOffset(t, kafka.TopicRaw); got != 4 {
		t.Fatalf("%d records in kafka, want 4", got)
	}
	if recs, byts := s.c.pub.InFlight(); recs != 0 || byts != 0 {
		t.Fatalf("budget not returned: %d records, %d bytes", recs, byts)
	}
	if r := s.events(t, keySPb, "", eventsBody(1, false)); r.status != http.StatusAccepted {
		t.Fatalf("after recovery: %d %s", r.status, r.body)
	}
}

// With no broker at all, senders get 503 + Retry-After after the publish
// timeout, the pixel its GIF, and the budget is given back.
func TestKafkaDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := &testKafka{addr: ln.Addr().String()}
	ln.Close()
	cfg := testConfig()
	cfg.PublishTimeout = 300 * time.Millisecond
	s := newServer(t, cfg, dead.producer(t, cfg.MaxInFlightRecords))
	r := s.events(t, keyMoscow, "application/json", eventsBody(3, false))
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("kafka down: %d %s", r.status, r.body)
	}
	assertGIF(t, s.pixel(t, "k="+keyMoscow, nil))
	eventually.True(t, 10*time.Second, "the budget to be returned", func() bool { r, b := s.c.pub.InFlight(); return r == 0 && b == 0 })
	m := s.metrics(t)
	for _, want := range []string{
		`throughline_collector_rejected_total{field="",reason="kafka_unavailable",source="api"} 1`,
		`throughline_collector_rejected_total{field="",reason="kafka_unavailable",source="pixel"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestServeShutsDown(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.c.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("still listening after shutdown")
	}
}
