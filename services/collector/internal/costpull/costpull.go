// Package costpull pulls ad spend from the platforms' APIs — Yandex Direct,
// VK Ads, Google Ads, Meta — every day after midnight in the ad account's
// time zone, for yesterday and a restatement window before it, and turns
// each pull into a cost import that restates those days exactly as a
// POST /v1/costs upload does (same parsers, same envelopes, same commit
// records, same costs topic). Failures are retried with backoff and jitter
// until the next day's pull; /metrics counts pulls per connector and the
// time of the last success (docs/costs.md).
package costpull

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/costs"
	"go.opentelemetry.io/otel/metric"
)

// Report is what one pull fetched, in a format of costs.Parse.
type Report struct {
	Format string
	Body   []byte
}

// Fetcher pulls one ad account's spend of the days from..to (YYYY-MM-DD).
// Errors are *Error, classified permanent or transient.
type Fetcher interface {
	Fetch(ctx context.Context, from, to string) (Report, error)
}

// Job is one connector of one account (Account "" pulls central spend).
type Job struct {
	Tenant    string
	Account   string
	Connector string // the connector's name, unique on its account
	Provider  string
	Channel   string
	Currency  string         // the tenant's
	Location  *time.Location // whose midnight ends "yesterday"
	Restate   int            // days pulled: yesterday and Restate-1 before it
	Fetcher   Fetcher
}

// Label is the job's id in metrics, logs and alerts: tenant/account/name,
// account "*" for central connectors.
func (j *Job) Label() string {
	acc := j.Account
	if acc == "" {
		acc = costs.CentralAccount
	}
	return j.Tenant + "/" + acc + "/" + j.Connector
}

// Sink publishes a pull's cost envelopes, then its commit records, each
// only after Kafka acknowledged what came before.
type Sink func(ctx context.Context, rows, commits []event.Envelope) error

// Config of the puller.
type Config struct {
	// After is how long after midnight the daily pull starts (platforms
	// close yesterday's figures in the first hour); each connector adds a
	// stable offset within Spread so a hundred branches do not call at once.
	After  time.Duration
	Spread time.Duration
	// RetryBase doubles per failed attempt up to RetryMax, with full jitter;
	// a platform's own retry hint is honoured when longer.
	RetryBase, RetryMax time.Duration
	// Timeout bounds one attempt, polling of an offline report included.
	Timeout time.Duration
	MaxRows int // rows of one pull, as costs.Options.MaxRows
	// Parallel bounds the pulls running at once: a hundred branches'
	// connectors due at the same minute (or at start) take turns, so their
	// answers never sit in memory all together.
	Parallel int
}

// DefaultConfig is the puller's configuration unless told otherwise.
func DefaultConfig() Config {
	return Config{After: 30 * time.Minute, Spread: 15 * time.Minute, RetryBase: time.Minute, RetryMax: 30 * time.Minute,
		Timeout: 15 * time.Minute, MaxRows: 200_000, Parallel: 4}
}

// Puller runs the jobs.
type Puller struct {
	cfg  Config
	jobs []Job
	sink Sink
	log  zerolog.Logger
	m    *metrics
	sem  chan struct{} // Parallel slots

	mu     sync.Mutex
	status map[string]Status
}

// Status is what a job did last, for operators.
type Status struct {
	LastSuccess time.Time // zero until a pull succeeded
	// LastError is the last attempt's failure; "" once one succeeded after it.
	LastError   string
	LastErrorAt time.Time
	From, To    string // the days of the last successful pull
	Rows        int
	// NextRun is when the job pulls next: a retry after a failure, else the
	// next daily run (zero while a pull runs or before the first).
	NextRun time.Time
}

// JobStatus is a job and its Status.
type JobStatus struct {
	Tenant, Account, Connector, Provider, Channel string
	Status
}

// Statuses lists the jobs of tenant (every tenant: "") in the order of
// the tenants file, each with its status (zero before its first pull).
func (p *Puller) Statuses(tenant string) []JobStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []JobStatus
	for i := range p.jobs {
		j := &p.jobs[i]
		if tenant != "" && j.Tenant != tenant {
			continue
		}
		out = append(out, JobStatus{Tenant: j.Tenant, Account: j.Account, Connector: j.Connector, Provider: j.Provider,
			Channel: j.Channel, Status: p.status[j.Label()]})
	}
	return out
}

// New builds a puller; Run starts it.
func New(cfg Config, jobs []Job, sink Sink, log zerolog.Logger, meter metric.Meter) (*Puller, error) {
	m, err := newMetrics(meter)
	if err != nil {
		return nil, err
	}
	p := &Puller{cfg: cfg, jobs: jobs, sink: sink, log: log.With().Str("component", "costpull").Logger(), m: m,
		sem: make(chan struct{}, max(cfg.Parallel, 1)), status: map[string]Status{}}
	for i := range jobs {
		m.declare(&jobs[i])
	}
	m.lastSuccess = p.lastSuccess
	return p, nil
}

// Jobs is how many connectors the puller runs.
func (p *Puller) Jobs() int { return len(p.jobs) }

// Status of a job by its Label.
func (p *Puller) Status(label string) (Status, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.status[label]
	return s, ok
}

// Run pulls every job once at start (a restarted collector catches up at
// once), then each day after midnight in the job's zone, until ctx ends.
func (p *Puller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range p.jobs {
		wg.Add(1)
		go func(j *Job) {
			defer wg.Done()
			p.runJob(ctx, j)
		}(&p.jobs[i])
	}
	wg.Wait()
}

// PullNow pulls every job once, now, without retrying: what an operator
// (or a test) runs to restate the window at once.
func (p *Puller) PullNow(ctx context.Context) error {
	var errs []error
	for i := range p.jobs {
		if err := p.pull(ctx, &p.jobs[i]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.jobs[i].Label(), err))
		}
	}
	return errors.Join(errs...)
}

func (p *Puller) runJob(ctx context.Context, j *Job) {
	offset := p.offset(j)
	next := time.Now()
	for {
		if !sleepUntil(ctx, next) {
			return
		}
		deadline := NextRun(time.Now(), j.Location, p.cfg.After+offset)
		p.pullUntil(ctx, j, deadline)
		next = deadline
		p.setStatus(j, func(s *Status) { s.NextRun = next })
	}
}

// NextRun is the first daily run after now: today's midnight in loc plus
// after if that is still ahead, else tomorrow's. Days are calendar days, so
// across a DST change the run keeps its wall-clock time.
func NextRun(now time.Time, loc *time.Location, after time.Duration) time.Time {
	l := now.In(loc)
	run := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc).Add(after)
	if !run.After(now) {
		y, m, d := l.Date()
		run = time.Date(y, m, d+1, 0, 0, 0, 0, loc).Add(after)
	}
	return run
}

// Window is the days a pull at now restates: yesterday in loc and the
// restate-1 days before it.
func Window(now time.Time, loc *time.Location, restate int) (from, to string) {
	l := now.In(loc)
	y, m, d := l.Date()
	yesterday := time.Date(y, m, d-1, 0, 0, 0, 0, loc)
	return yesterday.AddDate(0, 0, -(max(restate, 1) - 1)).Format(time.DateOnly), yesterday.Format(time.DateOnly)
}

// pullUntil pulls, retrying failures with backoff, until one succeeds or
// the next scheduled run is due (which pulls the same days and more).
func (p *Puller) pullUntil(ctx context.Context, j *Job, deadline time.Time) {
	for attempt := 0; ; attempt++ {
		err := p.pull(ctx, j)
		if err == nil || ctx.Err() != nil {
			return
		}
		wait := p.backoff(attempt, err)
		retry := time.Now().Add(wait)
		if !retry.Before(deadline) {
			return
		}
		p.setStatus(j, func(s *Status) { s.NextRun = retry })
		if !sleepUntil(ctx, retry) {
			return
		}
	}
}

// backoff is the wait after a failed attempt: RetryBase·2^attempt capped at
// RetryMax, with full jitter over its upper half; at least the platform's
// hint; RetryMax for a permanent failure (a token may be fixed meanwhile).
func (p *Puller) backoff(attempt int, err error) time.Duration {
	if IsPermanent(err) {
		return p.cfg.RetryMax
	}
	d := p.cfg.RetryBase
	for i := 0; i < attempt && d < p.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, p.cfg.RetryMax)
	d = d/2 + rand.N(d/2+1)
	return max(d, RetryAfter(err))
}

// offset is the job's stable place within Spread.
func (p *Puller) offset(j *Job) time.Duration {
	if p.cfg.Spread <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(j.Label()))
	return time.Duration(h.Sum64() % uint64(p.cfg.Spread))
}

// pull is one attempt: fetch, parse, envelope, publish — once a slot is
// free.
func (p *Puller) pull(ctx context.Context, j *Job) error {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.sem }()
	now := time.Now()
	from, to := Window(now, j.Location, j.Restate)
	log := p.log.With().Str("tenant", j.Tenant).Str("account", j.Account).Str("connector", j.Connector).
		Str("provider", j.Provider).Str("from", from).Str("to", to).Logger()
	actx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	n, err := p.attempt(actx, j, now, from, to)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		p.m.pulled(ctx, j, false)
		p.setStatus(j, func(s *Status) { s.LastError, s.LastErrorAt, s.NextRun = err.Error(), time.Now(), time.Time{} })
		log.Warn().Err(err).Bool("permanent", IsPermanent(err)).Msg("cost pull failed")
		return err
	}
	p.m.pulled(ctx, j, true)
	p.setStatus(j, func(s *Status) { *s = Status{LastSuccess: time.Now(), From: from, To: to, Rows: n} })
	log.Info().Int("rows", n).Msg("costs pulled")
	return nil
}

func (p *Puller) attempt(ctx context.Context, j *Job, now time.Time, from, to string) (int, error) {
	rep, err := j.Fetcher.Fetch(ctx, from, to)
	if err != nil {
		return 0, err
	}
	rows, err := costs.Parse(rep.Body, costs.Options{Format: rep.Format, Currency: j.Currency, MaxRows: p.cfg.MaxRows, AllowEmpty: true})
	if err != nil {
		// a download cut off (Yandex's row count), a format change: worth
		// another attempt, and loud
		return 0, transient(0, "%s: the report is not readable: %w", j.Provider, err)
	}
	for i := range rows {
		if rows[i].Date < from || rows[i].Date > to {
			return 0, transient(0, "%s: the report has a row of %s, outside %s..%s", j.Provider, rows[i].Date, from, to)
		}
	}
	id := costs.DefaultImportID(j.Tenant, j.Account, "pull:"+j.Connector+":"+from+":"+to, rep.Body)
	envs, commits, err := costs.Envelopes(rows, costs.Import{ID: id, Tenant: j.Tenant, Account: j.Account,
		Channel: j.Channel, Currency: j.Currency, Format: rep.Format, Location: j.Location, ReceivedAt: now,
		From: from, To: to})
	if err == nil && p.cfg.MaxRows > 0 && len(envs) > p.cfg.MaxRows {
		err = fmt.Errorf("%d rows with the restated days, more than %d: lower restate_days", len(envs), p.cfg.MaxRows)
	}
	if err != nil {
		return 0, permanent("%s: %w", j.Provider, err)
	}
	for i := range envs {
		if err := envs[i].Validate(); err != nil {
			return 0, permanent("%s: row %d: %w", j.Provider, i, err)
		}
	}
	if err := p.sink(ctx, envs, commits); err != nil {
		return 0, transient(0, "publishing the pulled costs: %w", err)
	}
	return len(envs), nil
}

func (p *Puller) setStatus(j *Job, f func(*Status)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.status[j.Label()]
	f(&s)
	p.status[j.Label()] = s
}

func (p *Puller) lastSuccess(label string) (time.Time, bool) {
	s, ok := p.Status(label)
	return s.LastSuccess, ok && !s.LastSuccess.IsZero()
}

// sleepUntil waits for t or ctx; false when ctx ended.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// Jobs builds the jobs of every connector in cfg, with fetchers over h.
// Connectors without an account's or tenant's zone pull in UTC.
func Jobs(cfg *tenants.Config, h *HTTP) ([]Job, error) {
	if cfg == nil {
		return nil, nil
	}
	var out []Job
	for ti := range cfg.Tenants {
		t := &cfg.Tenants[ti]
		currency := "RUB"
		if t.Currency != "" {
			currency = t.Currency
		}
		add := func(account, accountTZ string, cs []tenants.CostConnector) error {
			for _, c := range cs {
				loc, err := c.Location(accountTZ, t.Timezone)
				if err != nil {
					return fmt.Errorf("tenant %s: cost connector %s: %w", t.ID, c.ID(), err)
				}
				f, err := fetcher(c, h)
				if err != nil {
					return err
				}
				out = append(out, Job{Tenant: t.ID, Account: account, Connector: c.ID(), Provider: c.Provider,
					Channel: c.ChannelOrDefault(), Currency: currency, Location: loc, Restate: c.Restate(), Fetcher: f})
			}
			return nil
		}
		if err := add("", "", t.CostConnectors); err != nil {
			return nil, err
		}
		for ai := range t.Accounts {
			a := &t.Accounts[ai]
			if err := add(a.ID, a.Timezone, a.CostConnectors); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func fetcher(c tenants.CostConnector, h *HTTP) (Fetcher, error) {
	switch c.Provider {
	case tenants.CostYandexDirect:
		return &Yandex{H: h, Conn: c}, nil
	case tenants.CostVKAds:
		return &VK{H: h, Conn: c}, nil
	case tenants.CostGoogleAds:
		return &Google{H: h, Conn: c}, nil
	case tenants.CostMeta:
		return &Meta{H: h, Conn: c}, nil
	}
	return nil, errors.New("cost connector: unknown provider " + c.Provider)
}
