package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/intake"
	"github.com/throughline/throughline/services/collector/internal/ratelimit"
	"github.com/twmb/franz-go/pkg/kadm"
)

// slowUpload is a chunked POST whose body the test writes when it likes.
type slowUpload struct {
	pw   *io.PipeWriter
	resp chan response
}

func (s *testServer) startSlowUpload(t *testing.T, path, key string) *slowUpload {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", s.srv.URL+path, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "text/csv")
	u := &slowUpload{pw: pw, resp: make(chan response, 1)}
	go func() {
		resp, err := s.client.Do(req)
		if err != nil {
			u.resp <- response{status: -1, body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		u.resp <- response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	return u
}

// send writes n bytes of the body without blocking the test (the server
// may have stopped reading).
func (u *slowUpload) send(n int) {
	go u.pw.Write(bytes.Repeat([]byte("x"), n))
}

// Issue 9, item 4: slow chunked cost uploads of one tenant used to reserve
// their largest size before reading a byte, so a few of them held the whole
// budget and every other tenant got 503. Now a body holds only what it has
// sent, one tenant's bodies stop at the tenant's share (429 to the greedy
// one), and the other tenant's events are still accepted.
func TestSlowUploadsOfOneTenantDoNotStarveAnother(t *testing.T) {
	k := startKafka(t)
	// Each slow upload sends 40 KiB and stalls: its buffer has grown to 64
	// KiB (8, 16, 32, 64), which is what it holds. The tenant's share is
	// 256 KiB of the 1 MiB budget.
	const sent = 40 << 10
	const heldEach = 64 << 10
	cases := []struct {
		name        string
		keyShare    float64
		keys        []string // taking turns
		wantStalled int
		wantWho     string
	}{
		{"tenant share, two keys", 0.25, []string{keyMoscow, keySPb}, 4, "tenant's"},
		{"key share, one key", 0.125, []string{keyMoscow}, 2, "key's"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxInFlightBytes = 1 << 20
			cfg.MaxBodyBytes = 64 << 10
			cfg.KeyBodyShare = tc.keyShare
			cfg.Costs.MaxBodyBytes = 1 << 20 // capped to the key share
			s := newServer(t, cfg, k.producer(t, cfg.MaxInFlightRecords))
			base := k.endOffset(t, kafka.TopicRaw)
			// Every upload is started once the one before it is either held
			// by the collector or answered.
			var stalled []*slowUpload
			var refused []response
			for i := range 8 {
				u := s.startSlowUpload(t, "/v1/costs?format=generic", tc.keys[i%len(tc.keys)])
				u.send(sent)
				want := int64(len(stalled)+1) * heldEach
				var answered *response
				eventually.True(t, 10*time.Second, "upload held or answered", func() bool {
					select {
					case r := <-u.resp:
						answered = &r
						return true
					default:
					}
					return s.c.pub.TenantBodies("acme") == want
				})
				if answered != nil {
					refused = append(refused, *answered)
				} else {
					stalled = append(stalled, u)
				}
			}
			if len(stalled) != tc.wantStalled || len(refused) != 8-tc.wantStalled {
				t.Fatalf("%d uploads stalled, %d refused; want %d and %d", len(stalled), len(refused), tc.wantStalled, 8-tc.wantStalled)
			}
			for _, r := range refused {
				if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" ||
					!strings.Contains(r.body, "this "+tc.wantWho+" uploads in progress hold their share") {
					t.Fatalf("refused upload answered %d %q (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
				}
			}
			if got, share := s.c.pub.TenantBodies("acme"), s.c.pub.Shares().Tenant; got > share {
				t.Fatalf("acme holds %d bytes, over its share %d", got, share)
			}

			// Meanwhile the other tenant's events go through.
			for i := range 3 {
				body := strings.ReplaceAll(eventsBody(1, false), `"id":"ev-`, fmt.Sprintf(`"id":"%s-%d-`, strings.ReplaceAll(tc.name, " ", "-"), i))
				r := s.events(t, keyOther, "application/json", body)
				if r.status != http.StatusAccepted {
					t.Fatalf("other tenant's batch %d answered %d %s while acme's uploads stall", i, r.status, r.body)
				}
			}
			if n := k.endOffset(t, kafka.TopicRaw) - base; n != 3 {
				t.Fatalf("raw topic got %d records, want the other tenant's 3", n)
			}

			// A stalled upload that finishes is read and answered as usual,
			// and its memory returns.
			u := stalled[0]
			u.pw.Close()
			r := <-u.resp
			if r.status != http.StatusBadRequest { // 40 KiB of "x" is no cost report
				t.Fatalf("finished upload answered %d %s", r.status, r.body)
			}
			eventually.True(t, 10*time.Second, "memory of the finished upload returned", func() bool {
				return s.c.pub.TenantBodies("acme") == int64(tc.wantStalled-1)*heldEach
			})
		})
	}
}

// A body that stops arriving is answered 408 after the idle timeout, and the
// memory it held returns; one that keeps trickling is cut at the overall
// deadline.
func TestStalledBodyIsAnswered408(t *testing.T) {
	k := startKafka(t)
	cases := []struct {
		name        string
		idle, total time.Duration
		trickle     bool
	}{
		{"pause", 200 * time.Millisecond, time.Minute, false},
		{"trickle", time.Minute, 300 * time.Millisecond, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.BodyIdleTimeout, cfg.BodyReadTimeout = tc.idle, tc.total
			s := newServer(t, cfg, k.producer(t, cfg.MaxInFlightRecords))
			u := s.startSlowUpload(t, "/v1/events", keyMoscow)
			u.send(100)
			stop := make(chan struct{})
			defer close(stop)
			if tc.trickle {
				go func() {
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							u.send(1)
						}
					}
				}()
			}
			r := <-u.resp
			if r.status != http.StatusRequestTimeout || !strings.Contains(r.body, "not received in time") {
				t.Fatalf("stalled body answered %d %q", r.status, r.body)
			}
			eventually.True(t, 10*time.Second, "memory returned", func() bool { return s.c.pub.TenantBodies("acme") == 0 })
			if !strings.Contains(s.metrics(t), `reason="body_timeout"`) {
				t.Fatal("no body_timeout rejection in /metrics")
			}
		})
	}
}

// Issue 9, item 4: a pixel hit Kafka does not take (here: the raw topic is
// gone, so the write fails) is counted and dead-lettered with the reason,
// never dropped silently; the browser still gets its GIF.
func TestPixelHitNotPublishedIsDeadLettered(t *testing.T) {
	k := startKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(k.client(t)).DeleteTopic(ctx, kafka.TopicRaw); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.PublishTimeout = time.Second // the wait for a topic that will not come back
	s := newServer(t, cfg, k.producer(t, cfg.MaxInFlightRecords))
	assertGIF(t, s.pixel(t, "k="+keySPb+"&cid=c1&u=https%3A%2F%2Fshop.example%2F", nil))

	recs := k.consume(t, kafka.TopicDeadLetter, 1)
	var dl event.DeadLetter
	if err := json.Unmarshal(recs[0].Value, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Tenant != "acme" || dl.Account != "spb" || dl.Source != intake.SourcePixel ||
		!strings.HasPrefix(dl.Reason, "kafka: ") || strings.Contains(dl.Payload, keySPb) ||
		!strings.Contains(dl.Payload, "cid=c1") {
		t.Fatalf("dead letter %+v", dl)
	}
	eventually.True(t, 10*time.Second, "the dead letter counted", func() bool {
		return strings.Contains(s.metrics(t), `throughline_collector_dead_letters_total{outcome="published",source="pixel"} 1`)
	})
	if m := s.metrics(t); !strings.Contains(m, `throughline_collector_rejected_total{field="",reason="kafka_unavailable",source="pixel"} 1`) {
		t.Fatal("the failed hit is not counted as kafka_unavailable")
	}
}

// Issue 9, item 9: a sender flooding bad input fills the dead-letter topic
// no faster than the account's dead-letter rate limit; the rest is counted
// (rate_limited), every request is still answered 400, and another
// account's dead letters are written.
func TestDeadLetterFloodIsRateLimitedPerAccount(t *testing.T) {
	k := startKafka(t)
	cfg := testConfig()
	cfg.DeadLetterRate = ratelimit.Limit{PerSecond: 0.001, Burst: 3} // no refill within the test
	s := newServer(t, cfg, k.producer(t, cfg.MaxInFlightRecords))
	for i := range 10 {
		if r := s.events(t, keyMoscow, "application/json", `[{"type":"nonsense"}]`); r.status != http.StatusBadRequest {
			t.Fatalf("bad batch %d answered %d %s", i, r.status, r.body)
		}
	}
	if r := s.events(t, keyOther, "application/json", `[{"type":"nonsense"}]`); r.status != http.StatusBadRequest {
		t.Fatalf("other tenant's bad batch answered %d", r.status)
	}
	if n := k.endOffset(t, kafka.TopicDeadLetter); n != 4 {
		t.Fatalf("%d dead letters written, want 3 of acme/moscow and 1 of other/main", n)
	}
	for _, want := range []string{
		`throughline_collector_dead_letters_total{outcome="published",source="api"} 4`,
		`throughline_collector_dead_letters_total{outcome="rate_limited",source="api"} 7`,
	} {
		// The published count follows Kafka's answer, just after the 400.
		eventually.True(t, 10*time.Second, want, func() bool { return strings.Contains(s.metrics(t), want) })
	}
}

// Issue 9, item 9: with the public site key one script could lease every
// number of a pool, leaving real visitors sharing the attacker's numbers.
// New leases are limited per client address (an IPv6 /64) and per key;
// extending a held lease is not.
func TestNumberLeasesRateLimited(t *testing.T) {
	k := startKafka(t)
	cfg := testConfig()
	cfg.TrustedProxies = "127.0.0.1/32" // the test's X-Forwarded-For is the visitor's address
	cfg.LeaseClientRate = ratelimit.Limit{PerSecond: 0.0001, Burst: 2}
	cfg.LeaseKeyRate = ratelimit.Limit{PerSecond: 0.0001, Burst: 4}
	s := startPoolServer(t, k, cfg, zerolog.Nop())
	steps := []struct {
		ip, cid string
		want    int
		by      string // the limit that refuses
	}{
		{"198.51.100.1", "A", http.StatusOK, ""},
		{"198.51.100.1", "B", http.StatusOK, ""},
		{"198.51.100.1", "C", http.StatusTooManyRequests, "client"},
		{"198.51.100.1", "A", http.StatusOK, ""}, // A's own lease, extended
		{"2001:db8::1", "D", http.StatusOK, ""},
		{"2001:db8::ffff", "F", http.StatusOK, ""},                    // the same /64: its second
		{"2001:db8::abcd", "G", http.StatusTooManyRequests, "client"}, // the same /64: its third
		{"2001:db8:0:1::1", "H", http.StatusTooManyRequests, "key"},   // another network, but the key's fifth
		{"203.0.113.9", "A", http.StatusOK, ""},                       // A, from anywhere, still extends
	}
	for i, st := range steps {
		req, _ := http.NewRequest("GET", s.srv.URL+"/v1/numbers?k="+keyMoscow+"&cid="+st.cid, nil)
		req.Header.Set("X-Forwarded-For", st.ip)
		r := s.do(t, req)
		if r.status != st.want {
			t.Fatalf("step %d (%s, %s): %d %s, want %d", i, st.ip, st.cid, r.status, r.body, st.want)
		}
		if st.by != "" && (!strings.Contains(r.body, "new number leases from this "+st.by) || r.header.Get("Retry-After") == "") {
			t.Fatalf("step %d: refusal %q (Retry-After %q) does not name the %s limit", i, r.body, r.header.Get("Retry-After"), st.by)
		}
	}
	m := s.metrics(t)
	for _, want := range []string{
		`throughline_collector_number_leases_limited_total{by="client",tenant="acme"} 2`,
		`throughline_collector_number_leases_limited_total{by="key",tenant="acme"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
