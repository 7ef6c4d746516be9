package collector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/throughline/throughline/services/collector/internal/intake"
)

// Benchmarks go through real HTTP over loopback with many parallel clients,
// so BenchmarkPixel / BenchmarkBareHTTP is the cost of the collector (parse,
// authenticate, produce, wait for Kafka's acknowledgement) over a server that
// only writes the GIF. Run: go test -run '^$' -bench . ./services/collector

const benchClientsPerCPU = 16

const benchBatch = 100

func benchClient() (*http.Client, func()) {
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

func runHTTPBench(b *testing.B, newReq func() (*http.Request, error), want int, eventsPerReq int) {
	client, closeIdle := benchClient()
	defer closeIdle()
	b.SetParallelism(benchClientsPerCPU)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := newReq()
			if err != nil {
				b.Error(err)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Errorf("status %d, want %d", resp.StatusCode, want)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*eventsPerReq)/b.Elapsed().Seconds(), "events/s")
}

func pixelQuery() string {
	return url.Values{
		"k": {keyMoscow}, "cid": {"visitor-1"}, "r": {"https://ya.ru/"},
		"u": {"https://shop.example/spring?utm_source=yandex&utm_medium=cpc&utm_campaign=sale&yclid=777"},
	}.Encode()
}

func BenchmarkPixel(b *testing.B) { benchPixel(b, DefaultConfig()) }

// BenchmarkPixelNoDedup is BenchmarkPixel without the memory of published
// ids (collector-dedup-window 0): the collector before deduplication.
func BenchmarkPixelNoDedup(b *testing.B) { benchPixel(b, noDedup()) }

func noDedup() Config {
	cfg := DefaultConfig()
	cfg.Dedup.Window = 0
	return cfg
}

func benchPixel(b *testing.B, cfg Config) {
	k := startKafka(b)
	s := newServer(b, cfg, k.producer(b, cfg.MaxInFlightRecords))
	target := s.srv.URL + "/px.gif?" + pixelQuery()
	runHTTPBench(b, func() (*http.Request, error) {
		req, err := http.NewRequest("GET", target, nil)
		if err == nil {
			req.Header.Set("User-Agent", "Mozilla/5.0 (bench)")
		}
		return req, err
	}, http.StatusOK, 1)
	if n := k.endOffset(b, "throughline.raw.v1"); n < int64(b.N) {
		b.Fatalf("%d records in kafka after %d hits", n, b.N)
	}
}

func BenchmarkEventsBatch(b *testing.B) { benchEventsBatch(b, DefaultConfig()) }

// BenchmarkEventsBatchNoDedup is BenchmarkEventsBatch without the memory of
// published ids: the collector before deduplication.
func BenchmarkEventsBatchNoDedup(b *testing.B) { benchEventsBatch(b, noDedup()) }

// benchEventsBatch sends batches of ids never sent before, each published.
func benchEventsBatch(b *testing.B, cfg Config) {
	k := startKafka(b)
	s := newServer(b, cfg, k.producer(b, cfg.MaxInFlightRecords))
	body := eventsBody(benchBatch, false)
	target := s.srv.URL + "/v1/events"
	var n atomic.Int64
	runHTTPBench(b, func() (*http.Request, error) {
		ids := `"id":"r` + strconv.FormatInt(n.Add(1), 10) + `-`
		req, err := http.NewRequest("POST", target, strings.NewReader(strings.ReplaceAll(body, `"id":"`, ids)))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+keyMoscow)
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}, http.StatusAccepted, benchBatch)
}

// BenchmarkBareHTTP is the baseline: a net/http handler that only writes the
// GIF, behind the same kind of loopback server and clients.
func BenchmarkBareHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { intake.WriteGIF(w) }))
	defer srv.Close()
	target := srv.URL + "/px.gif?" + pixelQuery()
	runHTTPBench(b, func() (*http.Request, error) {
		req, err := http.NewRequest("GET", target, nil)
		if err == nil {
			req.Header.Set("User-Agent", "Mozilla/5.0 (bench)")
		}
		return req, err
	}, http.StatusOK, 1)
}

// BenchmarkNumbers leases pool numbers to ever new client ids (the pool of
// two is exhausted at once: the slowest path), each lease published to Kafka
// before the answer. Compare with BenchmarkPixel.
func BenchmarkNumbers(b *testing.B) {
	k := startKafka(b)
	s := newIntegrationsServer(b, k.producer(b, DefaultConfig().MaxInFlightRecords))
	var n atomic.Int64
	runHTTPBench(b, func() (*http.Request, error) {
		return http.NewRequest("GET", s.srv.URL+"/v1/numbers?k="+keyMoscow+"&cid=v"+strconv.FormatInt(n.Add(1), 10), nil)
	}, http.StatusOK, 1)
}
