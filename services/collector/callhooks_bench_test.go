package collector

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"testing"
)

// Webhook benchmarks: a call delivery through real HTTP over loopback —
// authenticate, parse, validate, publish, wait for Kafka — to compare with
// BenchmarkPixel of the same run. Run:
//
//	go test -run '^$' -bench 'CallHook|Pixel|BareHTTP' ./services/collector

func benchCallHook(b *testing.B, method, path, ctype string, body []byte) {
	k := startKafka(b)
	s := newIntegrationsServer(b, k.producer(b, DefaultConfig().MaxInFlightRecords))
	target := s.srv.URL + path
	runHTTPBench(b, func() (*http.Request, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, target, rd)
		if err == nil && ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		return req, err
	}, http.StatusOK, 1)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/float64(runtime.GOMAXPROCS(0)), "events/s/core")
}

// BenchmarkCallHookCalltouch: Calltouch's GET at the end of a call.
func BenchmarkCallHookCalltouch(b *testing.B) {
	q := string(hookFixture(b, callFixtures, "calltouch/disconnected.query"))
	benchCallHook(b, "GET", "/v1/hooks/calls/calltouch?k="+keyMoscow+"&"+q, "", nil)
}

// BenchmarkCallHookMango: a signed Mango events/summary (signature checked).
func BenchmarkCallHookMango(b *testing.B) {
	body := mangoForm(string(hookFixture(b, callFixtures, "mango/summary.json")), mangoSecret)
	benchCallHook(b, "POST", "/v1/hooks/calls/mango/k/"+keyMoscow+"/events/summary", form, body)
}

// BenchmarkCallHookGeneric: Throughline's own JSON.
func BenchmarkCallHookGeneric(b *testing.B) {
	benchCallHook(b, "POST", "/v1/hooks/calls/generic?k="+keyMoscow, "application/json",
		hookFixture(b, callFixtures, "generic/full.json"))
}
