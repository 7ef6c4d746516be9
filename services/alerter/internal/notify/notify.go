// Package notify delivers alerts to their targets — generic JSON webhooks,
// Telegram bots and Slack incoming webhooks — off the evaluation path: each
// target has a bounded queue and one worker, so a slow or dead receiver
// delays only its own notifications (in order: a resolution never overtakes
// its firing) and never the rules. Transient failures (network errors,
// timeouts, 408/425/429/5xx) are retried with exponential backoff and
// jitter, honouring Retry-After; permanent ones (other 4xx) and deliveries
// out of attempts or time are given up, counted and logged.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/services/alerter/internal/incident"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// Config bounds delivery.
type Config struct {
	QueueSize   int           // notifications waiting per target; beyond, new ones are dropped
	Timeout     time.Duration // one attempt
	MaxAttempts int
	MinBackoff  time.Duration // first retry waits about this long, doubling up to MaxBackoff
	MaxBackoff  time.Duration
	MaxAge      time.Duration // a notification older than this is given up
}

// Outcomes counted per delivery.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetried   = "retried"
	OutcomeGivenUp   = "given_up"
	OutcomeDropped   = "dropped" // the target's queue was full
)

// Notifier owns the per-target queues.
type Notifier struct {
	cfg    Config
	client *http.Client
	log    zerolog.Logger
	zone   func(tenant, account string) *time.Location
	count  metric.Int64Counter
	// OnDelivered, when set, is called after each successful delivery.
	OnDelivered func(a *incident.Alert, t *rules.Target)

	mu     sync.Mutex
	queues map[string]chan job
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	statsMu sync.Mutex
	stats   map[string]int64
}

type job struct {
	alert    incident.Alert
	target   rules.Target
	enqueued time.Time
}

// New returns a notifier. zone gives the time zone notifications show
// times in; client may be nil (a client with cfg.Timeout per attempt).
func New(cfg Config, client *http.Client, log zerolog.Logger, meter metric.Meter, zone func(tenant, account string) *time.Location) (*Notifier, error) {
	if client == nil {
		client = &http.Client{}
	}
	cnt, err := meter.Int64Counter("throughline_alerter_notifications_total",
		metric.WithDescription("alert notifications by target type and outcome: delivered, retried, given_up, dropped"))
	if err != nil {
		return nil, fmt.Errorf("creating notification counter: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Notifier{cfg: cfg, client: client, log: log, zone: zone, count: cnt,
		queues: map[string]chan job{}, ctx: ctx, cancel: cancel, stats: map[string]int64{}}, nil
}

// Send queues an alert for each target that accepts its severity. It never
// blocks: a full queue drops the notification (counted and logged).
func (n *Notifier) Send(a incident.Alert, targets []rules.Target) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	for _, t := range targets {
		if !t.Accepts(a.Severity) {
			continue
		}
		key := a.Tenant + "/" + t.Name
		q := n.queues[key]
		if q == nil {
			q = make(chan job, n.cfg.QueueSize)
			n.queues[key] = q
			n.wg.Add(1)
			go n.work(q)
		}
		select {
		case q <- job{alert: a, target: t, enqueued: time.Now()}:
		default:
			n.record(t.Type, OutcomeDropped)
			n.log.Error().Str("tenant", a.Tenant).Str("account", a.Account).Str("target", t.Name).
				Str("alert", a.ID).Str("status", a.Status).Msg("notification dropped: target queue full")
		}
	}
}

// Close stops taking notifications and delivers what is queued until ctx
// ends; what is still undelivered then is given up.
func (n *Notifier) Close(ctx context.Context) {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, q := range n.queues {
			close(q)
		}
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel()
		<-done
	}
	n.cancel()
}

// Stats are the outcomes so far by "type/outcome" (for tests and the report).
func (n *Notifier) Stats() map[string]int64 {
	n.statsMu.Lock()
	defer n.statsMu.Unlock()
	out := make(map[string]int64, len(n.stats))
	for k, v := range n.stats {
		out[k] = v
	}
	return out
}

func (n *Notifier) record(targetType, outcome string) {
	n.count.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("target_type", targetType), attribute.String("outcome", outcome)))
	n.statsMu.Lock()
	n.stats[targetType+"/"+outcome]++
	n.statsMu.Unlock()
}

func (n *Notifier) work(q chan job) {
	defer n.wg.Done()
	for j := range q {
		n.deliver(&j)
	}
}

// deliver tries one notification until it is delivered or given up.
func (n *Notifier) deliver(j *job) {
	loc := time.UTC
	if n.zone != nil {
		loc = n.zone(j.alert.Tenant, j.alert.Account)
	}
	body, hdr, err := request(&j.target, &j.alert, loc)
	log := n.log.With().Str("tenant", j.alert.Tenant).Str("account", j.alert.Account).Str("target", j.target.Name).
		Str("alert", j.alert.ID).Str("status", j.alert.Status).Logger()
	if err != nil {
		n.record(j.target.Type, OutcomeGivenUp)
		log.Error().Err(err).Msg("notification given up")
		return
	}
	for attempt := 1; ; attempt++ {
		err := n.attempt(&j.target, body, hdr)
		if err == nil {
			n.record(j.target.Type, OutcomeDelivered)
			if n.OnDelivered != nil {
				n.OnDelivered(&j.alert, &j.target)
			}
			return
		}
		var perm *permanentError
		switch {
		case errors.As(err, &perm):
			n.giveUp(j, log, err, attempt, "permanent failure")
			return
		case attempt >= n.cfg.MaxAttempts:
			n.giveUp(j, log, err, attempt, "out of attempts")
			return
		case time.Since(j.enqueued) >= n.cfg.MaxAge:
			n.giveUp(j, log, err, attempt, "too old")
			return
		}
		wait := n.backoff(attempt, err)
		n.record(j.target.Type, OutcomeRetried)
		log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("notification failed, retrying")
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-n.ctx.Done():
			t.Stop()
			n.giveUp(j, log, err, attempt, "shutting down")
			return
		}
	}
}

func (n *Notifier) giveUp(j *job, log zerolog.Logger, err error, attempts int, why string) {
	n.record(j.target.Type, OutcomeGivenUp)
	log.Error().Err(err).Int("attempts", attempts).Str("reason", why).Msg("notification given up")
}

// backoff is MinBackoff doubled per attempt up to MaxBackoff, with full
// jitter over its upper half; a receiver's Retry-After wins when longer.
func (n *Notifier) backoff(attempt int, err error) time.Duration {
	d := n.cfg.MinBackoff << min(attempt-1, 30)
	if d > n.cfg.MaxBackoff || d <= 0 {
		d = n.cfg.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	var ra *retryAfterError
	if errors.As(err, &ra) && ra.after > d {
		d = min(ra.after, n.cfg.MaxAge)
	}
	return d
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// attempt POSTs once and classifies the answer.
func (n *Notifier) attempt(t *rules.Target, body []byte, hdr http.Header) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return &permanentError{fmt.Errorf("building request to %s: %w", t.Redacted(), err)}
	}
	req.Header = hdr.Clone()
	resp, err := n.client.Do(req)
	if err != nil {
		// The URL may hold a token (telegram): report the redacted one.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting to %s: %w", t.Redacted(), err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return classify(t, resp, answer)
}

func classify(t *rules.Target, resp *http.Response, answer []byte) error {
	code := resp.StatusCode
	if code/100 == 2 {
		if t.Type == rules.TargetTelegram {
			var tg struct {
				OK          bool   `json:"ok"`
				Description string `json:"description"`
			}
			if json.Unmarshal(answer, &tg) == nil && !tg.OK {
				return &permanentError{fmt.Errorf("telegram refused the message: %s", tg.Description)}
			}
		}
		return nil
	}
	err := fmt.Errorf("%s answered %d: %s", t.Redacted(), code, bytes.TrimSpace(answer))
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if after := retryAfter(resp, answer); after > 0 {
			return &retryAfterError{err: err, after: after}
		}
		return err
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		return err
	}
	return &permanentError{err}
}

// retryAfter reads Retry-After (seconds) or Telegram's parameters.retry_after.
func retryAfter(resp *http.Response, answer []byte) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	var tg struct {
		Parameters struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if json.Unmarshal(answer, &tg) == nil && tg.Parameters.RetryAfter > 0 {
		return time.Duration(tg.Parameters.RetryAfter) * time.Second
	}
	return 0
}
