package collector

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/intake"
	"github.com/throughline/throughline/services/collector/internal/ratelimit"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	keyMoscow = "key-acme-moscow-1"
	keySPb    = "key-acme-spb-0001"
	keyOther  = "key-other-main-01"
)

const tenantsYAML = `
tenants:
  - id: acme
    accounts:
      - {id: moscow, write_keys: [` + keyMoscow + `]}
      - {id: spb, write_keys: [` + keySPb + `]}
  - id: other
    accounts:
      - {id: main, write_keys: [` + keyOther + `]}
`

// testKafka is the shared test Kafka (kafkatest) with the project's topics.
type testKafka struct {
	cluster *kafkatest.Cluster
	addr    string
}

func startKafka(tb testing.TB) *testKafka {
	tb.Helper()
	c := kafkatest.Start(tb)
	return &testKafka{cluster: c, addr: c.Brokers[0]}
}

func (k *testKafka) client(tb testing.TB, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	return kafkatest.Client(tb, []string{k.addr}, opts...)
}

func (k *testKafka) producer(tb testing.TB, maxBuffered int) *kgo.Client {
	return k.client(tb, kafka.ProducerOpts(maxBuffered)...)
}

// endOffset is the number of records written to topic, over all partitions.
func (k *testKafka) endOffset(tb testing.TB, topic string) int64 {
	tb.Helper()
	return k.cluster.EndOffset(tb, topic)
}

// consume reads the first n records of topic, failing if they do not come.
func (k *testKafka) consume(tb testing.TB, topic string, n int) []*kgo.Record {
	tb.Helper()
	cl := k.client(tb, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("consumed %d of %d records from %s", len(out), n, topic)
		}
		fs.EachError(func(_ string, _ int32, err error) { tb.Fatal(err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func decodeAll(tb testing.TB, recs []*kgo.Record) []event.Envelope {
	tb.Helper()
	out := make([]event.Envelope, len(recs))
	for i, r := range recs {
		e, err := event.Decode(r.Value)
		if err != nil {
			tb.Fatal(err)
		}
		if err := e.Validate(); err != nil {
			tb.Fatal(err)
		}
		if string(r.Key) != e.Tenant+"/"+e.Account {
			tb.Fatalf("record key %q for envelope of %s/%s", r.Key, e.Tenant, e.Account)
		}
		out[i] = e
	}
	return out
}

// testServer is a collector behind a real loopback HTTP server.
type testServer struct {
	c      *Collector
	srv    *httptest.Server
	client *http.Client
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.PublishTimeout = 5 * time.Second
	cfg.MaxInFlightRecords = 1000
	cfg.MaxBatchEvents = 100
	cfg.ReplayWindow = 0 // the signed fixtures are dated; the replay tests set a window
	// Every test visitor comes from 127.0.0.1: the per-address lease limit
	// is tested on its own (TestNumberLeasesRateLimited).
	cfg.LeaseClientRate = ratelimit.Limit{}
	return cfg
}

func newServer(tb testing.TB, cfg Config, producer *kgo.Client) *testServer {
	tb.Helper()
	return newServerLog(tb, cfg, producer, zerolog.Nop())
}

func newServerLog(tb testing.TB, cfg Config, producer *kgo.Client, log zerolog.Logger) *testServer {
	tb.Helper()
	tc, err := tenants.Parse([]byte(tenantsYAML))
	if err != nil {
		tb.Fatal(err)
	}
	tel, err := telemetry.New(log, "collector-test")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := New(cfg, Deps{Tel: tel, Producer: producer, Keys: tenants.NewKeys(tc)})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}
	ts := &testServer{c: c, srv: srv, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return ts
}

type response struct {
	status int
	header http.Header
	body   string
}

func (s *testServer) do(tb testing.TB, req *http.Request) response {
	tb.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (s *testServer) pixel(tb testing.TB, query string, hdr map[string]string) response {
	tb.Helper()
	req, err := http.NewRequest("GET", s.srv.URL+"/px.gif?"+query, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return s.do(tb, req)
}

func (s *testServer) events(tb testing.TB, key, contentType, body string) response {
	tb.Helper()
	req, err := http.NewRequest("POST", s.srv.URL+"/v1/events", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return s.do(tb, req)
}

func (s *testServer) metrics(tb testing.TB) string {
	tb.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+"/metrics", nil)
	return s.do(tb, req).body
}

func assertGIF(tb testing.TB, r response) {
	tb.Helper()
	if r.status != http.StatusOK || len(r.body) != 43 || r.body != string(intake.GIF()) {
		tb.Fatalf("pixel answered %d with %d bytes", r.status, len(r.body))
	}
	if r.header.Get("Content-Type") != "image/gif" || !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		tb.Fatalf("pixel headers: %v", r.header)
	}
}
