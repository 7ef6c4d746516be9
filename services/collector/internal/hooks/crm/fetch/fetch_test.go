package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throughline/throughline/services/collector/internal/hooks/crm"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testPool(t *testing.T, mod func(*Config)) *Pool {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BackoffBase, cfg.BackoffMax = 5*time.Millisecond, 50*time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	p, err := New(cfg, &http.Client{Transport: tr}, noop.NewMeterProvider().Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bitrixPortal answers like a Bitrix24 portal's REST webhook endpoint
// (/rest/1/<secret>/crm.deal.get?id=…): the first `limited` calls hit the
// rate limit with 503 QUERY_LIMIT_EXCEEDED.
type bitrixPortal struct {
	srv     *httptest.Server
	calls   atomic.Int64
	limited int64
	status  int    // answer after the limited calls: 0 for the deal
	answer  string // body for status
}

const dealAnswer = `{"result":{"ID":"%s","STAGE_ID":"WON","STAGE_SEMANTIC_ID":"S","OPPORTUNITY":"1000.00","CURRENCY_ID":"RUB",` +
	`"DATE_MODIFY":"2026-11-01T10:15:30+03:00"},"time":{"start":1,"finish":1.1,"duration":0.1}}`

func newPortal(t *testing.T, limited int64) *bitrixPortal {
	t.Helper()
	p := &bitrixPortal{limited: limited}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasPrefix(r.URL.Path, "/rest/1/s3cr3t/crm.") && !strings.HasPrefix(r.URL.Path, "/rest/2/s3cr3t2/crm.") {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"INVALID_CREDENTIALS","error_description":"Invalid request credentials"}`)
			return
		}
		if n <= p.limited {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`)
			return
		}
		if p.status != 0 {
			w.WriteHeader(p.status)
			fmt.Fprint(w, p.answer)
			return
		}
		fmt.Fprintf(w, dealAnswer, r.URL.Query().Get("id"))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *bitrixPortal) hook() string { return p.srv.URL + "/rest/1/s3cr3t/" }

func TestBitrix24RetriesRateLimits(t *testing.T) {
	portal := newPortal(t, 2)
	pool := testPool(t, nil)
	raw, err := pool.Bitrix24(portal.hook(), 100).Get(context.Background(), "crm.deal.get", "1234")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"ID":"1234"`) || portal.calls.Load() != 3 {
		t.Fatalf("%d calls, result %s", portal.calls.Load(), raw)
	}
}

func TestBitrix24GivesUpWithTheReason(t *testing.T) {
	portal := newPortal(t, 1000)
	pool := testPool(t, func(c *Config) { c.MaxAttempts = 3 })
	_, err := pool.Bitrix24(portal.hook(), 100).Get(context.Background(), "crm.deal.get", "1234")
	var fe *Error
	if !errors.As(err, &fe) || fe.Attempts != 3 || fe.Permanent || fe.Code != "QUERY_LIMIT_EXCEEDED" || fe.Status != 503 {
		t.Fatalf("error %#v", err)
	}
	if got := err.Error(); got != "bitrix24 crm.deal.get: QUERY_LIMIT_EXCEEDED (HTTP 503) after 3 attempts" {
		t.Fatalf("message %q", got)
	}
	if portal.calls.Load() != 3 {
		t.Fatalf("%d calls", portal.calls.Load())
	}
}

func TestBitrix24PermanentAndNotFound(t *testing.T) {
	portal := newPortal(t, 0)
	pool := testPool(t, nil)
	_, err := pool.Bitrix24(portal.srv.URL+"/rest/1/wrong/", 100).Get(context.Background(), "crm.deal.get", "1")
	var fe *Error
	if !errors.As(err, &fe) || !fe.Permanent || fe.Attempts != 1 || fe.Code != "INVALID_CREDENTIALS" {
		t.Fatalf("bad credentials: %#v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the webhook secret leaked into %q", err)
	}
	portal.status, portal.answer = http.StatusBadRequest, `{"error":"","error_description":"Not found"}`
	if _, err := pool.Bitrix24(portal.hook(), 100).Get(context.Background(), "crm.deal.get", "2"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("not found: %v", err)
	}
	portal.status, portal.answer = http.StatusOK, `{"result":false}`
	if _, err := pool.Bitrix24(portal.hook(), 100).Get(context.Background(), "crm.deal.get", "3"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("result false: %v", err)
	}
	portal.status, portal.answer = http.StatusServiceUnavailable, `{"error":"OVERLOAD_LIMIT","error_description":"REST API is blocked due to overload."}`
	calls := portal.calls.Load()
	if _, err := pool.Bitrix24(portal.hook(), 100).Get(context.Background(), "crm.deal.get", "4"); !errors.As(err, &fe) || !fe.Permanent || portal.calls.Load() != calls+1 {
		t.Fatalf("a blocked portal must not be hammered: %v", err)
	}
}

func TestRetriesStopAtTheDeadline(t *testing.T) {
	portal := newPortal(t, 1000)
	pool := testPool(t, func(c *Config) { c.BackoffBase, c.BackoffMax, c.MaxAttempts = time.Second, 4*time.Second, 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := pool.Bitrix24(portal.hook(), 100).Get(ctx, "crm.deal.get", "1")
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != "QUERY_LIMIT_EXCEEDED" || portal.calls.Load() != 1 {
		t.Fatalf("%v after %d calls", err, portal.calls.Load())
	}
}

// TestRateLimitPerPortal: requests to one portal never go faster than its
// limit after the burst, whoever makes them; another portal has its own.
func TestRateLimitPerPortal(t *testing.T) {
	portal := newPortal(t, 0)
	pool := testPool(t, nil)
	const rps, n = 20, 40
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < n; j += 8 {
				// Two webhook URLs of one portal share its limit.
				hook := portal.hook()
				if j%2 == 1 {
					hook = portal.srv.URL + "/rest/2/s3cr3t2/"
				}
				if _, err := pool.Bitrix24(hook, rps).Get(context.Background(), "crm.deal.get", fmt.Sprint(j)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The first rps requests are the burst; the other n-rps wait 1/rps each.
	if elapsed, least := time.Since(start), time.Duration(n-rps-1)*time.Second/rps; elapsed < least {
		t.Fatalf("%d requests in %v: faster than %d/s", n, elapsed, rps)
	}
	if pool.Instances() != 1 {
		t.Fatalf("%d limiters for one portal", pool.Instances())
	}
	other := newPortal(t, 0)
	if _, err := pool.Bitrix24(other.hook(), rps).Get(context.Background(), "crm.deal.get", "1"); err != nil {
		t.Fatal(err)
	}
	if pool.Instances() != 2 {
		t.Fatalf("%d limiters for two portals", pool.Instances())
	}
}

func TestInstancesAreBounded(t *testing.T) {
	pool := testPool(t, func(c *Config) { c.MaxInstances = 3 })
	for i := range 100 {
		pool.Bitrix24(fmt.Sprintf("https://branch-%d.bitrix24.ru/rest/1/x/", i), 2)
		pool.AmoCRM(fmt.Sprintf("https://branch-%d.amocrm.ru", i), "t", 0)
	}
	if pool.Instances() != 3 {
		t.Fatalf("%d instances kept", pool.Instances())
	}
}

// amoAccount answers like amoCRM's API v4.
func amoAccount(t *testing.T, handle func(w http.ResponseWriter, n int64)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer long-lived" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"title":"Unauthorized","type":"https://httpstatus.es/401","status":401,"detail":"Необходима авторизация"}`)
			return
		}
		if r.URL.Path != "/api/v4/leads/31926520" || r.URL.Query().Get("with") != "contacts,catalog_elements" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		handle(w, n)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestAmoCRMLead(t *testing.T) {
	srv, calls := amoAccount(t, func(w http.ResponseWriter, n int64) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, `{"id":31926520,"price":1000,"status_id":142,"updated_at":1793520700}`)
	})
	pool := testPool(t, nil)
	api := pool.AmoCRM(srv.URL, "long-lived", 0)
	raw, err := api.Lead(context.Background(), "31926520")
	if err != nil || !strings.Contains(string(raw), `"price":1000`) || calls.Load() != 2 {
		t.Fatalf("%s %v after %d calls", raw, err, calls.Load())
	}
	if _, err := api.Lead(context.Background(), "1"); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("204: %v", err)
	}
	_, err = pool.AmoCRM(srv.URL, "expired", 0).Lead(context.Background(), "31926520")
	var fe *Error
	if !errors.As(err, &fe) || !fe.Permanent || fe.Status != 401 || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("401: %v", err)
	}
}

// crm.deal.productrows.get answers a list: rows, an empty list (a deal
// without products), a rate limit that is retried, an error that is not.
func TestBitrix24ProductRows(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if !strings.HasSuffix(r.URL.Path, "/rest/1/s3cr3t/crm.deal.productrows.get") {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"INVALID_CREDENTIALS","error_description":"Invalid request credentials"}`)
			return
		}
		switch id := r.URL.Query().Get("id"); {
		case id == "1" && n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`)
		case id == "1":
			fmt.Fprint(w, `{"result":[{"ID":"7","OWNER_ID":"1","OWNER_TYPE":"D","PRODUCT_NAME":"Windscreen","PRICE":15000,"QUANTITY":2}],"time":{"start":1}}`)
		case id == "2":
			fmt.Fprint(w, `{"result":[],"time":{"start":1}}`)
		default:
			fmt.Fprint(w, `{"result":{"ID":"3"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	api := testPool(t, nil).Bitrix24(srv.URL+"/rest/1/s3cr3t/", 0)
	raw, err := api.List(context.Background(), "crm.deal.productrows.get", "1")
	if err != nil || !strings.Contains(string(raw), `"QUANTITY":2`) || raw[0] != '[' || calls.Load() != 2 {
		t.Fatalf("%s %v after %d calls", raw, err, calls.Load())
	}
	if raw, err := api.List(context.Background(), "crm.deal.productrows.get", "2"); err != nil || string(raw) != "[]" {
		t.Fatalf("empty list: %s %v", raw, err)
	}
	if _, err := api.List(context.Background(), "crm.deal.productrows.get", "3"); err == nil || !strings.Contains(err.Error(), "not a list") {
		t.Fatalf("object result: %v", err)
	}
	_, err = testPool(t, nil).Bitrix24(srv.URL+"/rest/1/wrong/", 0).List(context.Background(), "crm.deal.productrows.get", "1")
	var perm crm.Permanent
	if !errors.As(err, &perm) || !perm.IsPermanent() {
		t.Fatalf("401 must be permanent: %v", err)
	}
}
