package collector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/intake"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestPixelAccepted(t *testing.T) {
	k := startKafka(t)
	cfg := testConfig()
	cfg.TrustedProxies = "127.0.0.1/32" // a reverse proxy on this host
	s := newServer(t, cfg, k.producer(t, 1000))
	page := "https://shop.example/spring?utm_source=yandex&utm_medium=cpc&utm_campaign=sale&yclid=777&gclid=G-1"
	q := url.Values{"k": {keyMoscow}, "cid": {"visitor-1"}, "u": {page}, "r": {"https://ya.ru/"}, "p.plan": {"pro"}}
	head, _ := http.NewRequest("HEAD", s.srv.URL+"/px.gif?"+q.Encode(), nil)
	if r := s.do(t, head); r.status != 200 || r.header.Get("Content-Type") != "image/gif" {
		t.Fatalf("HEAD: %d %v", r.status, r.header)
	}
	assertGIF(t, s.pixel(t, q.Encode(), map[string]string{
		"User-Agent": "Mozilla/5.0 test", "X-Forwarded-For": "198.51.100.23",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}))
	recs := k.consume(t, kafka.TopicRaw, 1)
	if len(recs) != 1 || k.endOffset(t, kafka.TopicRaw) != 1 {
		t.Fatalf("want exactly one record, got %d", len(recs))
	}
	if string(recs[0].Key) != "acme/moscow" {
		t.Fatalf("key %q", recs[0].Key)
	}
	e := decodeAll(t, recs)[0]
	want := event.UTM{Source: "yandex", Medium: "cpc", Campaign: "sale"}
	if e.UTM != want || e.ClickIDs["yclid"] != "777" || e.ClickIDs["gclid"] != "G-1" || len(e.ClickIDs) != 2 {
		t.Fatalf("utm/click ids: %+v %v", e.UTM, e.ClickIDs)
	}
	if e.ClientID != "visitor-1" || e.URL != page || e.Referrer != "https://ya.ru/" || e.Props["plan"] != "pro" {
		t.Fatalf("fields: %+v", e)
	}
	if e.Type != event.TypePageview || e.Source != "pixel" || e.UserAgent != "Mozilla/5.0 test" {
		t.Fatalf("fields: %+v", e)
	}
	if e.IP != "198.51.100.23" { // the loopback peer is the configured proxy
		t.Fatalf("ip %q", e.IP)
	}
	if strings.Contains(string(recs[0].Value), keyMoscow) {
		t.Fatal("write key in the record")
	}
	var traceparent string
	for _, h := range recs[0].Headers {
		if h.Key == "traceparent" {
			traceparent = string(h.Value)
		}
	}
	if !strings.HasPrefix(traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
		t.Fatalf("trace context not continued into the record: %q", traceparent)
	}
}

func eventsBody(n int, ndjson bool) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"id":"ev-%d","type":"goal","name":"lead","ts":%d,"client_id":"c-%d",`+
			`"url":"https://shop.example/?utm_source=google&gclid=g%d","props":{"i":%d}}`, i, 1_759_999_999_000+int64(i), i, i, i)
	}
	if ndjson {
		return strings.Join(items, "\n") + "\n"
	}
	return "[" + strings.Join(items, ",") + "]"
}

func TestEventsAccepted(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	var total int64
	for _, c := range []struct {
		name, ctype string
		ndjson      bool
	}{
		{"json array", "application/json", false},
		{"ndjson", "application/x-ndjson", true},
		{"ndjson sniffed", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Ids of their own per run: the same ids again would be duplicates.
			body := strings.ReplaceAll(eventsBody(5, c.ndjson), `"id":"ev-`, `"id":"`+c.name+`-`)
			r := s.events(t, keySPb, c.ctype, body)
			if r.status != 202 || strings.TrimSpace(r.body) != `{"accepted":5,"duplicates":0}` {
				t.Fatalf("answer %d %s", r.status, r.body)
			}
			total += 5
			// 202 means acknowledged: the records are already in Kafka.
			if got := k.endOffset(t, kafka.TopicRaw); got != total {
				t.Fatalf("after 202, %d records in kafka, want %d", got, total)
			}
		})
	}
	envs := decodeAll(t, k.consume(t, kafka.TopicRaw, int(total)))
	for _, e := range envs {
		if e.Tenant != "acme" || e.Account != "spb" || e.Source != "api" || e.UTM.Source != "google" || e.ClickIDs["gclid"] == "" {
			t.Fatalf("envelope %+v", e)
		}
	}
}

func TestEventsInvalidIsAtomicAndDeadLettered(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	body := strings.Replace(eventsBody(5, false), `"ts":1759999999003,`, ``, 1)
	r := s.events(t, keyMoscow, "application/json", body)
	var e intake.APIError
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != 400 {
		t.Fatalf("answer %d %s", r.status, r.body)
	}
	if e.Field != "events[3].ts" || e.Error != "events[3].ts: required, Unix milliseconds" {
		t.Fatalf("error %+v", e)
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 0 {
		t.Fatalf("%d records published from an invalid batch", n)
	}
	dl := deadLetters(t, k, 1)[0]
	if dl.Source != "api" || dl.Tenant != "acme" || dl.Account != "moscow" || dl.Payload != body ||
		!strings.HasPrefix(dl.Reason, "events[3].ts") {
		t.Fatalf("dead letter %+v", dl)
	}
	if !strings.Contains(s.metrics(t), `throughline_collector_rejected_total{field="ts",reason="invalid",source="api"} 1`) {
		t.Fatal("rejection not counted")
	}
}

func TestPixelInvalidIsDeadLetteredWithoutKey(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	assertGIF(t, s.pixel(t, "u=https%3A%2F%2Fa.example%2F&k="+keyOther+"&ts=yesterday&cid=c1", nil))
	if n := k.endOffset(t, kafka.TopicRaw); n != 0 {
		t.Fatalf("%d records published from an invalid hit", n)
	}
	dl := deadLetters(t, k, 1)[0]
	if dl.Source != "pixel" || dl.Tenant != "other" || dl.Account != "main" || !strings.HasPrefix(dl.Reason, "ts: ") {
		t.Fatalf("dead letter %+v", dl)
	}
	if dl.Payload != "u=https%3A%2F%2Fa.example%2F&ts=yesterday&cid=c1" || strings.Contains(dl.Payload, keyOther) {
		t.Fatalf("payload %q", dl.Payload)
	}
}

func deadLetters(t *testing.T, k *testKafka, n int) []event.DeadLetter {
	t.Helper()
	recs := k.consume(t, kafka.TopicDeadLetter, n)
	if got := k.endOffset(t, kafka.TopicDeadLetter); got != int64(n) {
		t.Fatalf("%d dead letters, want %d", got, n)
	}
	out := make([]event.DeadLetter, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r.Value, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestUnknownKey(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	for _, key := range []string{"", "not-a-key-at-all"} {
		if r := s.events(t, key, "application/json", eventsBody(1, false)); r.status != 401 {
			t.Fatalf("key %q: answer %d %s", key, r.status, r.body)
		}
		assertGIF(t, s.pixel(t, "k="+key+"&cid=c1", nil))
	}
	if n := k.endOffset(t, kafka.TopicRaw) + k.endOffset(t, kafka.TopicDeadLetter); n != 0 {
		t.Fatalf("%d records written for unknown keys", n)
	}
	m := s.metrics(t)
	for _, want := range []string{
		`throughline_collector_rejected_total{field="k",reason="unknown_key",source="pixel"} 1`,
		`throughline_collector_rejected_total{field="k",reason="missing_key",source="pixel"} 1`,
		`throughline_collector_rejected_total{field="",reason="unknown_key",source="api"} 1`,
		`throughline_collector_requests_total{route="/v1/events",status="401"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A key writes for its own account only: the account never comes from input.
func TestKeyIsTheAccount(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	for _, field := range []string{"account", "tenant"} {
		body := `[{"type":"pageview","ts":1759999999000,"` + field + `":"spb"}]`
		r := s.events(t, keyMoscow, "application/json", body)
		if r.status != 400 || !strings.Contains(r.body, `"field":"events[0].`+field+`"`) {
			t.Fatalf("claiming %s: answer %d %s", field, r.status, r.body)
		}
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 0 {
		t.Fatalf("%d records published for a foreign account", n)
	}
	// Pixel parameters naming another account are not parameters at all.
	assertGIF(t, s.pixel(t, "k="+keyMoscow+"&tenant=other&account=main&cid=c1", nil))
	if r := s.events(t, keyOther, "", eventsBody(2, true)); r.status != 202 {
		t.Fatalf("answer %d %s", r.status, r.body)
	}
	owners := map[string]int{}
	for _, e := range decodeAll(t, k.consume(t, kafka.TopicRaw, 3)) {
		owners[e.Tenant+"/"+e.Account]++
	}
	if owners["acme/moscow"] != 1 || owners["other/main"] != 2 || len(owners) != 2 {
		t.Fatalf("records by owner: %v", owners)
	}
}

func TestBodyLimits(t *testing.T) {
	k := startKafka(t)
	cfg := testConfig()
	cfg.MaxBodyBytes = 4096
	cfg.MaxBatchEvents = 3
	s := newServer(t, cfg, k.producer(t, 1000))
	if r := s.events(t, keyMoscow, "", eventsBody(40, false)); r.status != 413 {
		t.Fatalf("oversized body: %d %s", r.status, r.body)
	}
	if r := s.events(t, keyMoscow, "", eventsBody(4, false)); r.status != 400 || !strings.Contains(r.body, `"field":"events"`) {
		t.Fatalf("too many events: %d %s", r.status, r.body)
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 0 {
		t.Fatalf("%d records published", n)
	}
}

func TestHealthEndpoints(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
		if r := s.do(t, req); r.status != want {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
	if r := s.events(t, keyMoscow, "", eventsBody(1, false)); r.status != 202 {
		t.Fatal(r.body)
	}
	m := s.metrics(t)
	for _, want := range []string{
		`throughline_collector_events_accepted_total{source="api"} 1`,
		`throughline_collector_produce_duration_seconds_count 1`,
		`throughline_collector_inflight_records 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// syncBuffer is a log sink for handlers running on server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsNeverCarryWriteKeys(t *testing.T) {
	k := startKafka(t)
	var logs syncBuffer
	s := newServerLog(t, testConfig(), k.producer(t, 1000), zerolog.New(&logs).Level(zerolog.TraceLevel))
	s.events(t, keyMoscow, "", eventsBody(2, false))
	s.events(t, keyMoscow, "", `[{"type":"pageview"}]`)
	s.events(t, "unknown-key-123", "", eventsBody(1, false))
	s.pixel(t, "k="+keySPb+"&ts=bad", nil)
	s.pixel(t, "k="+keySPb+"&cid=c1", nil)
	s.pixel(t, "k=unknown-key-456", nil)
	out := logs.String()
	if !strings.Contains(out, "event batch refused") || !strings.Contains(out, "pixel hit rejected") {
		t.Fatalf("expected debug logs, got:\n%s", out)
	}
	for _, key := range []string{keyMoscow, keySPb, "unknown-key-123", "unknown-key-456"} {
		if strings.Contains(out, key) {
			t.Fatalf("write key %q in the logs:\n%s", key, out)
		}
	}
}

func TestEventsGzip(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(eventsBody(3, true)))
	zw.Close()
	req, _ := http.NewRequest("POST", s.srv.URL+"/v1/events", &buf)
	req.Header.Set("X-Write-Key", keyMoscow)
	req.Header.Set("Content-Encoding", "gzip")
	if r := s.do(t, req); r.status != 202 || !strings.Contains(r.body, `"accepted":3`) {
		t.Fatalf("gzip body: %d %s", r.status, r.body)
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 3 {
		t.Fatalf("%d records", n)
	}
}
