package collector

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/services/collector/internal/leases"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

// The Moscow branch's number pool in integrationsYAML.
const (
	poolNumber1 = "+74951110001"
	poolNumber2 = "+74951110002"
)

func (s *testServer) numbers(tb testing.TB, query string) (response, leases.Reply) {
	tb.Helper()
	req, err := http.NewRequest("GET", s.srv.URL+"/v1/numbers?"+query, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Referer", "https://www.shop.test/contacts")
	r := s.do(tb, req)
	var rep leases.Reply
	if r.status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
			tb.Fatalf("reply %q: %v", r.body, err)
		}
	}
	return r, rep
}

func TestNumbersLease(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	before := time.Now().Truncate(time.Millisecond) // expires_at is whole milliseconds

	r, a := s.numbers(t, "k="+keyMoscow+"&cid=A")
	if r.status != http.StatusOK || a.Number != poolNumber1 {
		t.Fatalf("first lease: %d %s", r.status, r.body)
	}
	if a.Display != "+7 (495) 111-00-01" || len(a.Replace) != 2 || a.Replace[1] != "+74950000000" {
		t.Fatalf("reply formats the number like the page's phone and lists what it replaces: %+v", a)
	}
	if exp := time.UnixMilli(a.ExpiresAt); exp.Before(before.Add(30*time.Minute)) || exp.After(time.Now().Add(30*time.Minute)) {
		t.Fatalf("expires_at %v, want 30 minutes from now", exp)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("headers: %v", r.header)
	}

	_, again := s.numbers(t, "k="+keyMoscow+"&cid=A")
	_, b := s.numbers(t, "k="+keyMoscow+"&cid=B")
	_, c := s.numbers(t, "k="+keyMoscow+"&cid=C") // the pool of two is exhausted
	if again.Number != poolNumber1 || again.ExpiresAt < a.ExpiresAt || b.Number != poolNumber2 || c.Number != poolNumber1 {
		t.Fatalf("A again %+v, B %+v, C %+v", again, b, c)
	}

	evs := decodeAll(t, k.consume(t, kafka.TopicRaw, 4))
	want := []struct {
		cid, number string
		shared      bool
	}{{"A", poolNumber1, false}, {"A", poolNumber1, false}, {"B", poolNumber2, false}, {"C", poolNumber1, true}}
	for i, e := range evs {
		w := want[i]
		if e.Type != event.TypeNumberLease || e.Source != "numbers" || e.Tenant != "acme" || e.Account != "moscow" ||
			e.ClientID != w.cid || e.Lease == nil || e.Lease.Number != w.number || e.Lease.Shared != w.shared {
			t.Fatalf("lease event %d: %+v %+v", i, e, e.Lease)
		}
		if e.Props["tracking_number"] != w.number || e.URL != "https://www.shop.test/contacts" || e.Lease.To <= e.Lease.From {
			t.Fatalf("lease event %d: props %v url %q", i, e.Props, e.URL)
		}
	}
	if evs[1].Lease.From != evs[0].Lease.From || evs[1].Lease.To != again.ExpiresAt || evs[0].Lease.To != a.ExpiresAt {
		t.Fatalf("an extension keeps the lease's start and moves its end: %+v then %+v", evs[0].Lease, evs[1].Lease)
	}
	m := s.metrics(t)
	for _, want := range []string{`throughline_collector_number_pool_exhausted_total{account="moscow"`, `kind="extended"`, `kind="shared"`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestNumbersRefused(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	for name, c := range map[string]struct {
		query  string
		status int
		msg    string
	}{
		"no key":    {"cid=A", http.StatusUnauthorized, "write key required"},
		"wrong key": {"k=key-not-configured&cid=A", http.StatusUnauthorized, "unknown write key"},
		"no pool":   {"k=" + keySPb + "&cid=A", http.StatusNotFound, "no number pool"},
		"no cid":    {"k=" + keyMoscow, http.StatusBadRequest, "cid"},
		"long cid":  {"k=" + keyMoscow + "&cid=" + strings.Repeat("x", 600), http.StatusBadRequest, "cid"},
	} {
		r, _ := s.numbers(t, c.query)
		var body intake.APIError
		if r.status != c.status || json.Unmarshal([]byte(r.body), &body) != nil || !strings.Contains(body.Error, c.msg) {
			t.Errorf("%s: %d %s, want %d naming %q", name, r.status, r.body, c.status, c.msg)
		}
	}
	head, _ := http.NewRequest("HEAD", s.srv.URL+"/v1/numbers?k="+keyMoscow+"&cid=A", nil)
	if r := s.do(t, head); r.status != http.StatusOK {
		t.Errorf("HEAD: %d", r.status)
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 0 {
		t.Fatalf("%d records published for refused requests and a HEAD", n)
	}
}

func TestNumbersRateLimited(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	var got []int
	for range 3 {
		r, _ := s.numbers(t, "k="+keyLimited+"&cid=A")
		got = append(got, r.status)
	}
	if got[0] != 200 || got[1] != 200 || got[2] != http.StatusTooManyRequests {
		t.Fatalf("statuses %v, want the key's burst of two and then 429", got)
	}
}
