package collector

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/kafka"
)

func idsBody(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, `{"id":%q,"type":"pageview","ts":%d,"client_id":"c1","url":"https://shop.example/"}`+"\n", id, time.Now().UnixMilli())
	}
	return b.String()
}

// A batch repeating ids already published — or an id twice in one batch —
// is answered 202 with the repeats counted, and only new ids reach Kafka.
func TestRepeatedEventIDsAnsweredAsDuplicates(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	for _, c := range []struct {
		key, body, want string
	}{
		{keyMoscow, idsBody("a", "b", "b", "c"), `{"accepted":3,"duplicates":1}`},
		{keyMoscow, idsBody("a", "b", "d"), `{"accepted":1,"duplicates":2}`},
		{keyMoscow, idsBody("a", "d"), `{"accepted":0,"duplicates":2}`},
		{keySPb, idsBody("a"), `{"accepted":1,"duplicates":0}`}, // another account's id "a"
	} {
		r := s.events(t, c.key, "application/x-ndjson", c.body)
		if r.status != 202 || strings.TrimSpace(r.body) != c.want {
			t.Fatalf("answer %d %s, want 202 %s", r.status, r.body, c.want)
		}
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 5 {
		t.Fatalf("%d records on the raw topic, want 5 (a, b, c, d for moscow; a for spb)", n)
	}
	if m := s.metrics(t); !strings.Contains(m, `collector_duplicates_total{source="api"} 5`) {
		t.Fatalf("metrics lack 5 api duplicates:\n%s", grepLines(m, "duplicates"))
	}
}

// A pixel hit repeated with the same eid (a retry by the tracker or a
// proxy) is published once.
func TestPixelRepeatedEIDPublishedOnce(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	q := url.Values{"k": {keyMoscow}, "cid": {"v1"}, "u": {"https://shop.example/"}, "eid": {"0a1b2c3d4e5f"}}
	for range 3 {
		assertGIF(t, s.pixel(t, q.Encode(), nil))
	}
	q.Set("eid", "ffff0000")
	assertGIF(t, s.pixel(t, q.Encode(), nil))
	if n := k.endOffset(t, kafka.TopicRaw); n != 2 {
		t.Fatalf("%d records, want 2 (two eids)", n)
	}
	if m := s.metrics(t); !strings.Contains(m, `collector_duplicates_total{source="pixel"} 2`) {
		t.Fatalf("metrics lack 2 pixel duplicates:\n%s", grepLines(m, "duplicates"))
	}
}

// A collector started after another published (the case of a SIGKILL
// between Kafka's acknowledgement and the answer) reads the recent ids back
// from the raw topic and answers the sender's retry as duplicates.
func TestRestartedCollectorKnowsRecentIDs(t *testing.T) {
	k := startKafka(t)
	first := newServer(t, testConfig(), k.producer(t, 1000))
	if r := first.events(t, keyMoscow, "application/x-ndjson", idsBody("x1", "x2")); r.status != 202 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	second := newServer(t, testConfig(), k.producer(t, 1000))
	second.c.restoreIDs(context.Background())
	if n := second.c.ids.len(); n != 2 {
		t.Fatalf("restored %d ids, want 2", n)
	}
	r := second.events(t, keyMoscow, "application/x-ndjson", idsBody("x1", "x2", "x3"))
	if r.status != 202 || strings.TrimSpace(r.body) != `{"accepted":1,"duplicates":2}` {
		t.Fatalf("retry answered %d %s", r.status, r.body)
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 3 {
		t.Fatalf("%d records, want 3", n)
	}
}

// The memory is bounded: past MaxIDs the oldest ids are forgotten, and a
// repeat of one is published again (the loader drops it).
func TestRecentIDsBounded(t *testing.T) {
	k := startKafka(t)
	cfg := testConfig()
	cfg.Dedup.MaxIDs = 3
	s := newServer(t, cfg, k.producer(t, 1000))
	s.events(t, keyMoscow, "application/x-ndjson", idsBody("1", "2", "3", "4"))
	if n := s.c.ids.len(); n != 3 {
		t.Fatalf("%d ids remembered, want 3", n)
	}
	r := s.events(t, keyMoscow, "application/x-ndjson", idsBody("1", "4"))
	if strings.TrimSpace(r.body) != `{"accepted":1,"duplicates":1}` {
		t.Fatalf("answer %s: want id 1 forgotten, id 4 remembered", r.body)
	}
}
