package stitcher

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
)

// TestBusyAccountState: one account with more than Kafka's 1 MB of events
// waiting out the lateness window. Each waiting event is a changelog record
// of its own, so the stitcher keeps committing (it once aborted every
// transaction of the partition on MESSAGE_TOO_LARGE); a restarted stitcher
// reads the waiting events back from those records, and the output is what
// the domain computes from the same input.
func TestBusyAccountState(t *testing.T) {
	e := newEnv(t)
	pad := strings.Repeat("x", 400)
	busy := func(from, n int) []event.Envelope {
		out := make([]event.Envelope, n)
		for i := range out {
			k := from + i
			ts := t0 + int64(k/4) // ascending, 4 a millisecond: all within the lateness
			out[i] = event.Envelope{V: 1, ID: fmt.Sprintf("b%06d", k), Tenant: "t", Account: "busy", Source: "api", TS: ts, ReceivedAt: ts,
				Type: event.TypePageview, ClientID: fmt.Sprintf("c%d", k%40), URL: fmt.Sprintf("https://s.ru/?p=%d&pad=%s", k, pad)}
		}
		return out
	}
	e.produce(busy(0, 3000)) // ~1.6 MB of envelopes

	cfg := e.config("busy")
	cfg.Lateness = 3 * time.Second
	cfg.IdleFlush = time.Hour // nothing is applied early: all of it waits in the state
	cfg.MaxPollRecords = 2000
	s := e.newStitcher(cfg)
	r := start(s)
	eventually.True(t, 30*time.Second, "the busy account's input committed", func() bool {
		return e.cluster.Committed(cfg.Group, kafka.TopicRaw) == e.total()
	})
	if pending, _, _ := s.sizes(); pending != 3000 {
		t.Fatalf("%d events pending, want 3000", pending)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	// A restart reads the waiting events back, takes more and applies all.
	e.produce(busy(3000, 500))
	cfg.IdleFlush = 100 * time.Millisecond
	s = e.newStitcher(cfg)
	r = start(s)
	e.waitDone(s, cfg.Group)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	sameOutput(t, e.want(rulesOf(cfg), ""), e.got(""))
}

// TestOversizeRecord: a record larger than the producer may send is counted
// by topic in throughline_stitcher_oversize_records_total, and nothing of
// its transaction commits (it is aborted, not half-written).
func TestOversizeRecord(t *testing.T) {
	e := newEnv(t)
	e.produce([]event.Envelope{{V: 1, ID: "huge", Tenant: "t", Account: "a", Source: "api", TS: t0, ReceivedAt: t0,
		Type: event.TypePageview, ClientID: "c1", URL: "https://s.ru/?p=" + strings.Repeat("x", 40<<10)}})
	cfg := e.config("oversize")
	s := e.newStitcher(cfg)
	s.hooks.clientOpts = append(s.hooks.clientOpts, kgo.ProducerBatchMaxBytes(32<<10)) // the broker's limit, scaled down
	r := start(s)
	defer func() {
		if err := r.stop(); err != nil {
			t.Error(err)
		}
	}()
	count := regexp.MustCompile(`(?m)^throughline_stitcher_oversize_records_total\{[^}]*topic="([^"]+)"[^}]*\} (\d+)`)
	var topics []string
	eventually.True(t, 30*time.Second, "oversize records counted", func() bool {
		rec := httptest.NewRecorder()
		s.deps.Tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		topics = topics[:0]
		for _, m := range count.FindAllStringSubmatch(rec.Body.String(), -1) {
			if n, _ := strconv.Atoi(m[2]); n > 0 {
				topics = append(topics, m[1])
			}
		}
		return len(topics) > 0
	})
	t.Logf("oversize records on %v", topics)
	if n := e.cluster.Committed(cfg.Group, kafka.TopicRaw); n > 0 {
		t.Fatalf("%d input records committed with an oversize record", n)
	}
}
