// Package fetch pulls CRM entities over the vendors' REST APIs for webhooks
// that carry only ids: Bitrix24's crm.*.get through a portal's REST webhook
// URL, and amoCRM's GET /api/v4/leads/{id}. Every CRM instance (a portal, an
// amoCRM account) gets its own rate limiter, created on first use and kept in
// a bounded LRU set, so a network of a hundred branches on a hundred CRMs
// shares nothing but the HTTP transport. Failures are classified: rate limits
// (HTTP 429/503, QUERY_LIMIT_EXCEEDED), 5xx and network errors are retried
// with jittered exponential backoff within the caller's deadline; bad
// credentials and other 4xx are not.
package fetch

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"
)

// Config of the pool.
type Config struct {
	AttemptTimeout time.Duration // one HTTP request
	MaxAttempts    int           // attempts per entity, the first included
	BackoffBase    time.Duration // wait after the first failure, doubled after each
	BackoffMax     time.Duration // longest wait between attempts
	MaxInstances   int           // CRM instances whose limiters are kept
	MaxBodyBytes   int64         // largest answer read
}

// DefaultConfig is the pool's configuration unless told otherwise.
func DefaultConfig() Config {
	return Config{
		AttemptTimeout: 5 * time.Second,
		MaxAttempts:    4,
		BackoffBase:    250 * time.Millisecond,
		BackoffMax:     4 * time.Second,
		MaxInstances:   4096,
		MaxBodyBytes:   4 << 20,
	}
}

// Default request rates per instance, under the vendors' limits: Bitrix24
// allows 2 requests a second per portal, amoCRM 7 per account.
const (
	DefaultBitrix24RPS = 2
	DefaultAmoCRMRPS   = 5
)

// Pool hands out API clients per CRM instance.
type Pool struct {
	cfg    Config
	client *http.Client

	mu        sync.Mutex
	instances map[string]*list.Element // of *instance
	lru       *list.List

	requests metric.Int64Counter
}

type instance struct {
	key string
	lim *rate.Limiter
}

// New creates a pool. client may be nil for a default one with sane timeouts.
func New(cfg Config, client *http.Client, meter metric.Meter) (*Pool, error) {
	if cfg.MaxAttempts < 1 || cfg.MaxInstances < 1 || cfg.AttemptTimeout <= 0 || cfg.MaxBodyBytes <= 0 {
		return nil, errors.New("crm fetch: attempts, instances, attempt timeout and body size must be positive")
	}
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 4
		tr.ResponseHeaderTimeout = cfg.AttemptTimeout
		client = &http.Client{Transport: tr}
	}
	req, err := meter.Int64Counter("throughline.collector.crm.requests",
		metric.WithDescription("requests to CRM REST APIs by provider and outcome (ok, not_found, retried, failed)"))
	if err != nil {
		return nil, fmt.Errorf("creating crm fetch metrics: %w", err)
	}
	return &Pool{cfg: cfg, client: client, instances: map[string]*list.Element{}, lru: list.New(), requests: req}, nil
}

// instance returns the limiter of a CRM instance, creating it on first use
// and forgetting the least recently used beyond MaxInstances.
func (p *Pool) instance(provider, baseURL string, rps float64) *instance {
	key := provider + " " + baseURL
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.instances[key]; ok {
		p.lru.MoveToFront(el)
		in := el.Value.(*instance)
		if in.lim.Limit() != rate.Limit(rps) {
			in.lim.SetLimit(rate.Limit(rps))
		}
		return in
	}
	burst := int(rps)
	if burst < 1 {
		burst = 1
	}
	in := &instance{key: key, lim: rate.NewLimiter(rate.Limit(rps), burst)}
	p.instances[key] = p.lru.PushFront(in)
	for p.lru.Len() > p.cfg.MaxInstances {
		old := p.lru.Back()
		p.lru.Remove(old)
		delete(p.instances, old.Value.(*instance).key)
	}
	return in
}

// Instances is the number of CRM instances with a limiter.
func (p *Pool) Instances() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.Len()
}

// Error is a request that did not succeed, after Attempts tries.
type Error struct {
	Op        string // "bitrix24 crm.deal.get", "amocrm GET /api/v4/leads"
	Status    int    // last HTTP status, 0 for a network error
	Code      string // the vendor's error code, when it gave one
	Attempts  int
	Permanent bool // retrying will not help (credentials, bad request)
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.Code != "" && e.Status != 0:
		fmt.Fprintf(&b, "%s (HTTP %d)", e.Code, e.Status)
	case e.Status != 0:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	}
	if e.Code == "" && e.Status != 0 && e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	fmt.Fprintf(&b, " after %d attempt", e.Attempts)
	if e.Attempts != 1 {
		b.WriteString("s")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent says retrying will not help (crm.Permanent).
func (e *Error) IsPermanent() bool { return e.Permanent }

// outcome of one attempt, decided by a vendor's classifier.
type outcome struct {
	body       []byte
	err        error // nil: done with body
	retry      bool
	code       string
	retryAfter time.Duration
}

// do runs attempts of one request within ctx, each after a token of the
// instance's limiter, until success, a permanent failure, MaxAttempts or
// ctx's deadline.
func (p *Pool) do(ctx context.Context, in *instance, provider, op string, newReq func(context.Context) (*http.Request, error),
	classify func(status int, h http.Header, body []byte) outcome) ([]byte, error) {
	fail := &Error{Op: op}
	for attempt := 1; ; attempt++ {
		fail.Attempts = attempt
		if err := in.lim.Wait(ctx); err != nil {
			fail.Attempts--
			if fail.Err == nil {
				fail.Err = fmt.Errorf("waiting for the rate limit of %d/s: %w", int(in.lim.Limit()), err)
			}
			p.count(provider, "failed")
			return nil, fail
		}
		o := p.attempt(ctx, newReq, classify)
		if o.err == nil {
			p.count(provider, "ok")
			return o.body, nil
		}
		fail.Status, fail.Code, fail.Err = o.status(), o.code, o.err
		if errors.Is(o.err, errNotFound) {
			p.count(provider, "not_found")
			return nil, o.err
		}
		if !o.retry || attempt >= p.cfg.MaxAttempts {
			fail.Permanent = !o.retry
			p.count(provider, "failed")
			return nil, fail
		}
		wait := p.backoff(attempt)
		if o.retryAfter > wait {
			wait = min(o.retryAfter, p.cfg.BackoffMax)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			p.count(provider, "failed")
			return nil, fail // no time left for another attempt
		}
		p.count(provider, "retried")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			p.count(provider, "failed")
			return nil, fail
		}
	}
}

// errNotFound marks an outcome the caller maps to crm.ErrNotFound.
var errNotFound = errors.New("not found")

type statusErr struct {
	status int
	err    error
}

func (e *statusErr) Error() string { return e.err.Error() }
func (e *statusErr) Unwrap() error { return e.err }

func (o outcome) status() int {
	var se *statusErr
	if errors.As(o.err, &se) {
		return se.status
	}
	return 0
}

func (p *Pool) attempt(ctx context.Context, newReq func(context.Context) (*http.Request, error),
	classify func(int, http.Header, []byte) outcome) outcome {
	actx, cancel := context.WithTimeout(ctx, p.cfg.AttemptTimeout)
	defer cancel()
	req, err := newReq(actx)
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "throughline-collector")
	resp, err := p.client.Do(req)
	if err != nil {
		// Network errors and attempt timeouts are worth another try while the
		// caller still waits.
		return outcome{err: fmt.Errorf("requesting: %w", redactURL(err)), retry: ctx.Err() == nil}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxBodyBytes+1))
	if err != nil {
		return outcome{err: &statusErr{resp.StatusCode, fmt.Errorf("reading answer: %w", err)}, retry: true}
	}
	if int64(len(body)) > p.cfg.MaxBodyBytes {
		return outcome{err: &statusErr{resp.StatusCode, fmt.Errorf("answer larger than %d bytes", p.cfg.MaxBodyBytes)}}
	}
	o := classify(resp.StatusCode, resp.Header, body)
	if o.err != nil && !errors.Is(o.err, errNotFound) {
		o.err = &statusErr{resp.StatusCode, o.err}
	}
	return o
}

// backoff is the wait after the attempt-th failure: exponential with jitter
// in [d/2, d].
func (p *Pool) backoff(attempt int) time.Duration {
	d := p.cfg.BackoffBase << (attempt - 1)
	if d > p.cfg.BackoffMax || d <= 0 {
		d = p.cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

func (p *Pool) count(provider, outcome string) {
	p.requests.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("provider", provider), attribute.String("outcome", outcome)))
}

// retryAfter reads a Retry-After of seconds.
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// redactURL keeps the secret path of a Bitrix24 webhook URL (and any query)
// out of error messages, which end up in logs and dead letters.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, hostOnly(ue.URL), ue.Err)
	}
	return err
}

// hostOnly is a URL without its path and query: "https://acme.bitrix24.ru/…".
func hostOnly(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(url)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// CloseIdleConnections closes the pool's idle connections to the CRMs.
func (p *Pool) CloseIdleConnections() { p.client.CloseIdleConnections() }
