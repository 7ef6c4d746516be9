package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/throughline/throughline/pkg/tenants"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collectorItem is the events API's item as the collector decodes it
// (unknown fields are refused there too).
type collectorItem struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Name      string            `json:"name"`
	TS        json.RawMessage   `json:"ts"`
	ClientID  string            `json:"client_id"`
	URL       string            `json:"url"`
	Referrer  string            `json:"referrer"`
	UTM       map[string]string `json:"utm"`
	ClickIDs  map[string]string `json:"click_ids"`
	Props     map[string]any    `json:"props"`
	UserAgent string            `json:"user_agent"`
	IP        string            `json:"ip"`
}

// fakeCollector stands in for the collector's HTTP endpoint shape: the
// pixel (key in ?k=, always a GIF) and the events API (Bearer key, JSON
// array, 202 {"accepted": n}). It records what arrived and what was wrong.
type fakeCollector struct {
	keys *tenants.Keys
	tc   *tenants.Config
	mu   sync.Mutex
	// what arrived
	pixels, batches, events int
	goals, pastTS           int
	accounts                map[string]bool
	hooks                   hookCounts
	blocked                 int // pulls the blocked portal refused
	problems                []string
	// status, when set, answers instead (with Retry-After: 1 on 503)
	status func(n int) int
	n      int
}

func (f *fakeCollector) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *fakeCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.status != nil {
		if s := f.status(f.n); s != 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(s)
			return
		}
	}
	if f.serveHook(w, r) {
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/px.gif":
		q := r.URL.Query()
		p, ok := f.keys.Lookup(q.Get("k"))
		if !ok {
			f.problem("pixel with unknown key %q", q.Get("k"))
		}
		if _, err := url.ParseRequestURI(q.Get("u")); err != nil || q.Get("cid") == "" || q.Get("eid") == "" {
			f.problem("pixel without url, cid or eid: %s", r.URL.RawQuery)
		}
		if q.Get("t") == "goal" {
			f.goals++
		}
		f.pixels++
		f.accounts[p.Account] = true
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a"))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/events":
		key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		p, ok := f.keys.Lookup(key)
		if !ok {
			f.problem("events with unknown key %q", key)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		var items []collectorItem
		if err := dec.Decode(&items); err != nil || len(items) == 0 {
			f.problem("events body: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, it := range items {
			var ts int64
			if json.Unmarshal(it.TS, &ts) != nil || ts <= 0 || it.ID == "" || it.Type == "" || it.ClientID == "" {
				f.problem("event %+v", it)
			}
			if ts < time.Now().Add(-time.Minute).UnixMilli() {
				f.pastTS++
			}
			if it.Type == "goal" {
				f.goals++
			}
		}
		f.batches++
		f.events += len(items)
		f.accounts[p.Account] = true
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d}`, len(items))
	default:
		f.problem("unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}

func newFake(tc *tenants.Config) *fakeCollector {
	return &fakeCollector{keys: tenants.NewKeys(tc), tc: tc, accounts: map[string]bool{},
		hooks: hookCounts{calls: map[string]int{}, crm: map[string]int{}, pulled: map[string]int{}, costs: map[string]int{}, direct: map[string]int{}}}
}

// syncBuffer is a log destination safe for the workers' concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

func TestRunDrivesCollector(t *testing.T) {
	crm := startCRM(t)
	tc := TenantsFor(1, 20, crm.URL())
	fake := newFake(tc)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var logs syncBuffer
	meter, live := liveGauge(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{CollectorURL: srv.URL, Rate: 400, Seed: 2, Backfill: 48 * time.Hour, BackfillPerDay: 4000,
			BatchSize: 50, SummaryEvery: 200 * time.Millisecond, CRM: crm, CRMTrickle: 2 * time.Second, Meter: meter}, tc, zerolog.New(&logs))
	}()
	// Live (the gauge), then enough of everything: the live traffic is
	// random, so the counts are floors, not exact figures.
	waitLive(t, live, 30*time.Second, logs.String)
	deadline := time.Now().Add(30 * time.Second)
	for {
		fake.mu.Lock()
		h := fake.hooks
		enough := fake.pixels >= 500 && fake.pastTS >= 500 &&
			h.calls[vendorCalltouch] > 0 && h.calls[vendorMango] > 0 && h.crm[crmGeneric] > 0 &&
			h.pulled[crmAmoCRM] > 0 && h.pulled[crmBitrix24] > 0 && h.closed >= 10 && len(h.costs) == 4 && h.leases > 0 &&
			h.calls[vendorAlloka] > 0 && h.calls[vendorCallibri] > 0 && h.crm[crmMegaplan] > 0 && h.crm[crmDynamics] > 0 && h.chats > 0
		fake.mu.Unlock()
		if enough {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not enough traffic: %d pixels, %d past events, %+v\n%s", fake.pixels, fake.pastTS, fake.hooks, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.problems) > 0 {
		t.Fatalf("%d bad requests, first: %s", len(fake.problems), fake.problems[0])
	}
	if fake.batches == 0 || fake.goals == 0 || len(fake.accounts) != 20 {
		t.Errorf("%d batches, %d goals, %d accounts", fake.batches, fake.goals, len(fake.accounts))
	}
	if fake.blocked != blockedPulls {
		t.Errorf("the blocked portal refused %d pulls, want %d", fake.blocked, blockedPulls)
	}
	for _, want := range []string{`"message":"demo backfill queued"`, `"message":"demo backfill delivered"`,
		`"message":"demo traffic stopped"`, `"accepted":`, `"message":"demo story"`, `"message":"demo crm server pulls"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

// handlerTransport serves requests in memory, so the test's clock can be
// synctest's fake one.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func TestRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := Tenants(1, 2)
		key := tc.Tenants[0].Accounts[0].SiteKey()
		var at []time.Time
		fake := newFake(tc)
		fake.status = func(n int) int {
			at = append(at, time.Now())
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return 0
		}
		st := &stats{}
		snd := &sender{base: "http://collector", client: &http.Client{Transport: handlerTransport{fake}},
			log: zerolog.Nop(), st: st, maxAttempts: 5}
		s, _ := newSim(1, tc, "t")
		hits := []hit{s.next(time.Now()), s.next(time.Now())}
		snd.events(t.Context(), key, hits)
		if len(at) != 3 || at[1].Sub(at[0]) < time.Second || at[2].Sub(at[1]) < time.Second {
			t.Fatalf("attempts at %v, want 3 a Retry-After (1s) apart", at)
		}
		if st.accepted.Load() != 2 || st.retries.Load() != 2 || st.failed.Load() != 0 {
			t.Errorf("accepted %d, retries %d, failed %d", st.accepted.Load(), st.retries.Load(), st.failed.Load())
		}
		// A pixel sent while another request is backing off waits too.
		at = nil
		fake.n = 0
		var wg sync.WaitGroup
		wg.Go(func() { snd.pixel(t.Context(), key, hits[0], false) })
		synctest.Wait() // the first pixel got a 503 and is waiting
		start := time.Now()
		snd.pixel(t.Context(), key, hits[1], false)
		wg.Wait()
		if len(at) != 4 {
			t.Errorf("pixel attempts at %v, want 4", at)
		}
		for _, a := range at[1:] {
			if a.Sub(start) < time.Second {
				t.Errorf("a pixel was sent %v after a 503 with Retry-After: 1", a.Sub(start))
			}
		}
		// Refusals are not retried; running out of attempts counts as failed.
		fake.status = func(int) int { return http.StatusBadRequest }
		snd.pixel(t.Context(), key, hits[0], false)
		fake.status = func(int) int { return http.StatusServiceUnavailable }
		snd.pixel(t.Context(), key, hits[0], false)
		if st.failed.Load() != 2 {
			t.Errorf("failed %d, want 2", st.failed.Load())
		}
	})
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": time.Second, "3": 3 * time.Second, "junk": time.Second, "3600": time.Minute,
		now.Add(5 * time.Second).Format(http.TimeFormat): 5 * time.Second,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{CollectorURL: "http://127.0.0.1:8080"}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := (Config{CollectorURL: "127.0.0.1:8080"}).Validate(); err == nil {
		t.Error("a URL without scheme passed")
	}
	if err := (Config{CollectorURL: "http://x", Rate: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "demo-rate") {
		t.Errorf("negative rate: %v", err)
	}
	if err := (Config{CollectorURL: "http://x", CRMAddr: "no-port"}).Validate(); err == nil || !strings.Contains(err.Error(), "demo-crm-addr") {
		t.Errorf("crm address without a port: %v", err)
	}
	if err := (Config{CollectorURL: "http://x", CRMTrickle: time.Millisecond}).Validate(); err == nil || !strings.Contains(err.Error(), "demo-crm-trickle") {
		t.Errorf("sub-second trickle: %v", err)
	}
	if err := Run(context.Background(), Config{CollectorURL: "http://x"}, &tenants.Config{}, zerolog.Nop()); err == nil {
		t.Error("ran without accounts")
	}
}
