package collector

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

// TestRateLimitPerKey: the "limited" tenant allows a burst of two requests
// per key and then one per 100 s, on every endpoint but the pixel, which
// keeps answering its GIF and counts instead. Other tenants are untouched.
func TestRateLimitPerKey(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	call := []byte(`{"call_id": "r-1", "started_at": 1772349300}`)
	for i := range 2 {
		if r := s.send(t, "POST", "/v1/hooks/calls/generic?k="+keyLimited, "application/json", call, nil); r.status != 200 {
			t.Fatalf("request %d of the burst: %d %s", i, r.status, r.body)
		}
	}
	r := s.send(t, "POST", "/v1/hooks/calls/generic?k="+keyLimited, "application/json", call, nil)
	retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || retry < 1 || retry > 100 {
		t.Fatalf("over the limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// The bucket is the key's, whatever the endpoint.
	if r := s.events(t, keyLimited, "application/json", eventsBody(1, false)); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("events API over the key's limit: %d", r.status)
	}
	if r, _ := s.costs(t, keyLimited, "", "text/csv", []byte("date,channel,cost\n2026-03-01,x,1\n")); r.status != http.StatusTooManyRequests {
		t.Fatalf("costs over the key's limit: %d", r.status)
	}
	// The pixel always answers its GIF and the hit is kept; it is counted.
	for range 3 {
		assertGIF(t, s.pixel(t, "k="+keyLimited+"&cid=c1&u=https%3A%2F%2Fshop.example%2F", nil))
	}
	// Unlimited tenants and other keys are not affected.
	for range 5 {
		if r := s.send(t, "POST", "/v1/hooks/calls/generic?k="+keyMoscow, "application/json", call, nil); r.status != 200 {
			t.Fatalf("an unlimited key was limited: %d", r.status)
		}
	}
	// 2 calls of the burst + 3 pixel hits + 5 moscow calls.
	if n := k.endOffset(t, kafka.TopicRaw); n != 10 {
		t.Fatalf("%d records, want 10", n)
	}
	m := s.metrics(t)
	for _, want := range []string{
		`throughline_collector_rate_limited_total{action="rejected",route="/v1/hooks/calls",tenant="limited"} 1`,
		`throughline_collector_rate_limited_total{action="rejected",route="/v1/events",tenant="limited"} 1`,
		`throughline_collector_rate_limited_total{action="rejected",route="/v1/costs",tenant="limited"} 1`,
		`throughline_collector_rate_limited_total{action="counted",route="/px.gif",tenant="limited"} 3`,
		`throughline_collector_rejected_total{field="",reason="rate_limited",source="hook:generic"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s:\n%s", want, grep(m, "rate_limited"))
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRequestKey(t *testing.T) {
	cases := map[string]string{
		"/v1/hooks/calls/mango?k=KEY12345/events/summary":   "KEY12345",
		"/v1/hooks/calls/mango/k/KEY12345/events/summary":   "KEY12345",
		"/v1/hooks/calls/mango/events/summary?k=KEY12345":   "KEY12345",
		"/v1/hooks/calls/generic?k=a%2Fb%2Fc":               "a/b/c",
		"/v1/hooks/calls/k":                                 "",
		"/v1/costs?format=yandex":                           "",
		"/v1/hooks/calls/calltouch?callerphone=7916&k=KEYX": "KEYX",
	}
	for target, want := range cases {
		req, _ := http.NewRequest("POST", "http://collector"+target, nil)
		if got := intake.Key(req); got != want {
			t.Errorf("%s: key %q, want %q", target, got, want)
		}
	}
	req, _ := http.NewRequest("POST", "http://collector/v1/costs", nil)
	req.Header.Set("Authorization", "Bearer tenant-key-1")
	if intake.Key(req) != "tenant-key-1" {
		t.Fatal("bearer key not read")
	}
	if got := withoutPathKey("k/KEY12345/events/summary"); got != "events/summary" {
		t.Fatalf("withoutPathKey: %q", got)
	}
}
