package demo

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/tenants"
)

// Config of the demo traffic.
type Config struct {
	// CollectorURL is the collector's base URL, e.g. http://127.0.0.1:8080.
	CollectorURL string
	// Rate is the live traffic in events per second, over the whole network.
	Rate float64
	// Seed makes the simulated visitors reproducible.
	Seed int64
	// Backfill is how much history (timestamps in the past) is sent first,
	// as fast as the collector takes it, before going live; 0: none.
	// RegisterFlags defaults it to a month (DefaultBackfill); a Config
	// built in code has none unless it says so.
	Backfill time.Duration
	// BackfillPerDay is the history's traffic in events per simulated day.
	BackfillPerDay int
	// BatchSize is the most events in one POST /v1/events.
	BatchSize int
	// Workers is how many requests are in flight at once.
	Workers int
	// SummaryEvery is how often the counters are logged.
	SummaryEvery time.Duration
	// RequestTimeout bounds one request.
	RequestTimeout time.Duration
	// MaxAttempts is how often a request is tried before its events count as failed.
	MaxAttempts int
	// CRMAddr is where the simulated CRMs listen when CRM is nil.
	CRMAddr string
	// CRM, when set, is the simulated CRMs' server, already listening at
	// the URL the tenants file names (see ListenCRM, PrepareTenantsFile);
	// the caller closes it.
	CRM *CRMServer
	// CRMTrickle is how long the changes the history left pending (deals
	// still open when the backfill ends) take to arrive live: the CRMs'
	// clock runs 14 days per CRMTrickle, for new leads too.
	CRMTrickle time.Duration
	// CostsEvery is how often today's spend so far is uploaded live, each
	// upload restating the day.
	CostsEvery time.Duration

	// The live story's incidents, for the alerter (zero durations or an
	// empty name turn one off; Defaults has them on). SilentChannel — as
	// the pipeline classifies it — brings no visit, form or call from
	// SilenceAt after going live for SilenceFor.
	SilentChannel         string
	SilenceAt, SilenceFor time.Duration
	// NoAmountsBranch's managers skip amounts (in place of yekaterinburg's):
	// never the expected one, half the won ones in history; live, its CRM
	// sends no amounts from NoAmountsAt after going live for NoAmountsFor
	// (longer if no deal was won meanwhile), then the managers enter them.
	NoAmountsBranch           string
	NoAmountsAt, NoAmountsFor time.Duration
	// Behind, when set, is how many records the pipeline has still to
	// take (PipelineBehind): after the history the demo waits for it to
	// reach zero before going live.
	Behind func(context.Context) (int64, error)
	// ReportsAsOf, when set, is when the report aggregates were last
	// brought up to date (the all-in-one's refresher): once the pipeline
	// took the history, the demo also waits for a round that started after
	// that, so the dashboard it goes live on shows the whole history.
	ReportsAsOf func() time.Time
	// Progress, when set, draws the history's progress as a bar (on a
	// terminal); without it the progress is a log line every few seconds.
	Progress *ProgressBar
	// AlertsAddr is where the demo's alert receiver listens (ListenAlerts);
	// empty: no receiver. The caller runs it.
	AlertsAddr string
	// Meter, when set, gets the gauge throughline_demo_live: 1 once the
	// history is delivered and the pipeline took it (the first screen is
	// complete), 0 before; throughline_demo_story_timestamp_seconds: when
	// each step of the live story happened (see storyStep); and
	// throughline_demo_events_total by outcome (see runner.gauges).
	Meter metric.Meter

	transport http.RoundTripper // tests
}

// RegisterFlags registers the demo's settings on fs (env: THROUGHLINE_DEMO_*).
// CollectorURL is set by the caller, which knows where the collector listens.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := Defaults()
	flagenv.Float64(fs, &c.Rate, "demo-rate", d.Rate, "live demo traffic, events per second over the whole network")
	flagenv.Int64(fs, &c.Seed, "demo-seed", d.Seed, "seed of the simulated visitors")
	flagenv.Duration(fs, &c.Backfill, "demo-backfill", DefaultBackfill, "send this much history first, then go live (0: none, live traffic only)")
	flagenv.Int(fs, &c.BackfillPerDay, "demo-backfill-per-day", d.BackfillPerDay, "history traffic, events per simulated day")
	flagenv.Int(fs, &c.BatchSize, "demo-batch-size", d.BatchSize, "most events in one POST /v1/events")
	flagenv.Int(fs, &c.Workers, "demo-workers", d.Workers, "requests in flight at once")
	flagenv.Duration(fs, &c.SummaryEvery, "demo-summary-every", d.SummaryEvery, "how often the demo logs its counters")
	flagenv.String(fs, &c.CRMAddr, "demo-crm-addr", d.CRMAddr, "loopback address of the simulated Bitrix24/amoCRM REST APIs the collector pulls from (written into the tenants file)")
	flagenv.Duration(fs, &c.CRMTrickle, "demo-crm-trickle", d.CRMTrickle, "live: CRM deals take this long for what takes 14 days in history (status changes trickle in)")
	flagenv.Duration(fs, &c.CostsEvery, "demo-costs-every", d.CostsEvery, "live: how often today's ad spend is re-uploaded (each upload restates the day)")
	flagenv.String(fs, &c.SilentChannel, "demo-silent-channel", d.SilentChannel, "live story: this channel brings no leads for a while (empty: never)")
	flagenv.Duration(fs, &c.SilenceAt, "demo-silence-at", d.SilenceAt, "live story: the channel goes silent this long after going live")
	flagenv.Duration(fs, &c.SilenceFor, "demo-silence-for", d.SilenceFor, "live story: how long the channel stays silent (0: never)")
	flagenv.String(fs, &c.NoAmountsBranch, "demo-no-amounts-branch", d.NoAmountsBranch, "live story: this branch's CRM sends won deals without their amount for a while (empty: never)")
	flagenv.Duration(fs, &c.NoAmountsAt, "demo-no-amounts-at", d.NoAmountsAt, "live story: the amounts stop this long after going live")
	flagenv.Duration(fs, &c.NoAmountsFor, "demo-no-amounts-for", d.NoAmountsFor, "live story: how long until the managers enter the missing amounts (0: never)")
	flagenv.String(fs, &c.AlertsAddr, "demo-alerts-addr", d.AlertsAddr, "loopback address of the demo's alert receiver, which logs every notification as a \"demo alert\" line (empty: none)")
	c.RequestTimeout, c.MaxAttempts = d.RequestTimeout, d.MaxAttempts
}

// The history `throughline demo` sends before going live: a month, thin
// enough that the pipeline takes it in about a minute on a small machine
// (the shape of a day — its hours, channels, calls, leads, deals, spend —
// is the live traffic's; only the number of visitors is smaller).
const (
	DefaultBackfill       = 30 * 24 * time.Hour
	DefaultBackfillPerDay = 1000
)

// Defaults are the settings RegisterFlags starts from (Backfill aside:
// the flag's default is DefaultBackfill).
func Defaults() Config {
	return Config{
		Rate: 50, Seed: 1, BackfillPerDay: DefaultBackfillPerDay, BatchSize: 100, Workers: 4,
		SummaryEvery: 10 * time.Second, RequestTimeout: 20 * time.Second, MaxAttempts: 8,
		CRMAddr: DefaultCRMAddr, CRMTrickle: 10 * time.Minute, CostsEvery: 5 * time.Minute,
		SilentChannel: silentChannel, SilenceAt: 3 * time.Minute, SilenceFor: 8 * time.Minute,
		NoAmountsBranch: sloppyBranch, NoAmountsAt: 4 * time.Minute, NoAmountsFor: 4 * time.Minute,
		AlertsAddr: DefaultAlertsAddr,
	}
}

// Validate names the setting that is wrong. Zero values take their
// defaults, but for the story's incidents and the alert receiver: off.
func (c Config) Validate() error {
	c = c.withDefaults()
	u, err := url.Parse(c.CollectorURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("demo collector url: %q is not an http(s) URL", c.CollectorURL)
	}
	switch {
	case c.Rate <= 0 || c.Rate > 100_000:
		return fmt.Errorf("demo-rate: %v must be above 0 and at most 100000", c.Rate)
	case c.Backfill < 0:
		return fmt.Errorf("demo-backfill: %v is negative", c.Backfill)
	case c.BackfillPerDay < 1:
		return fmt.Errorf("demo-backfill-per-day: %d must be at least 1", c.BackfillPerDay)
	case c.BatchSize < 1:
		return fmt.Errorf("demo-batch-size: %d must be at least 1", c.BatchSize)
	case c.Workers < 1:
		return fmt.Errorf("demo-workers: %d must be at least 1", c.Workers)
	case c.CRMTrickle < time.Second:
		return fmt.Errorf("demo-crm-trickle: %v must be at least 1s", c.CRMTrickle)
	case c.CostsEvery < time.Second:
		return fmt.Errorf("demo-costs-every: %v must be at least 1s", c.CostsEvery)
	case c.SilenceAt < 0:
		return fmt.Errorf("demo-silence-at: %v is negative", c.SilenceAt)
	case c.SilenceFor < 0:
		return fmt.Errorf("demo-silence-for: %v is negative", c.SilenceFor)
	case c.NoAmountsAt < 0:
		return fmt.Errorf("demo-no-amounts-at: %v is negative", c.NoAmountsAt)
	case c.NoAmountsFor < 0:
		return fmt.Errorf("demo-no-amounts-for: %v is negative", c.NoAmountsFor)
	}
	if c.SilentChannel != "" && !knownChannel(c.SilentChannel) {
		return fmt.Errorf("demo-silent-channel: %q is not a channel of the demo (%s)", c.SilentChannel, strings.Join(channelNames(), ", "))
	}
	if c.AlertsAddr != "" {
		if _, _, err := net.SplitHostPort(c.AlertsAddr); err != nil {
			return fmt.Errorf("demo-alerts-addr: %q is not host:port", c.AlertsAddr)
		}
	}
	if c.CRM == nil {
		if _, _, err := net.SplitHostPort(c.CRMAddr); err != nil {
			return fmt.Errorf("demo-crm-addr: %q is not host:port", c.CRMAddr)
		}
	}
	return nil
}

// episodes are the live story's incidents as configured.
func (c Config) episodes() episodes {
	return episodes{channel: c.SilentChannel, silenceAt: c.SilenceAt, silenceFor: c.SilenceFor,
		noAmounts: c.NoAmountsBranch, amountsAt: c.NoAmountsAt, amountsFor: c.NoAmountsFor}
}

func (c Config) withDefaults() Config {
	d := Defaults()
	c.Rate = cmp.Or(c.Rate, d.Rate)
	c.BackfillPerDay = cmp.Or(c.BackfillPerDay, d.BackfillPerDay)
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.Workers = cmp.Or(c.Workers, d.Workers)
	if c.SummaryEvery <= 0 {
		c.SummaryEvery = d.SummaryEvery
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	c.CRMAddr = cmp.Or(c.CRMAddr, d.CRMAddr)
	c.CRMTrickle = cmp.Or(c.CRMTrickle, d.CRMTrickle)
	c.CostsEvery = cmp.Or(c.CostsEvery, d.CostsEvery)
	return c
}

// job is one request: a pixel hit, a batch of one account's events, or a
// webhook or cost upload.
type job struct {
	key    string
	pixel  *hit
	withTS bool
	batch  []hit
	hook   *hookReq
}

// crmLanes is how many CRM changes are in flight at once. One lead's
// changes always take the same lane, in order: each sets the simulated
// CRM's state the collector then pulls.
const crmLanes = 4

// Run simulates the network until ctx is done: first the backfill, if any,
// then live traffic at cfg.Rate. It returns nil when ctx ends it.
func Run(ctx context.Context, cfg Config, tc *tenants.Config, log zerolog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	start := time.Now()
	s, err := newSim(cfg.Seed, tc, strconv.FormatInt(start.UnixMilli(), 36))
	if err != nil {
		return err
	}
	if cfg.CRM == nil {
		if cfg.CRM, err = ListenCRM(cfg.CRMAddr); err != nil {
			return err
		}
		defer cfg.CRM.Close()
	}
	if n := cfg.CRM.configure(tc); n > 0 {
		log.Warn().Int("crms", n).Str("crm_server", cfg.CRM.URL()).
			Msg("simulated crms in the tenants file point elsewhere than the demo crm server: their pulls will fail")
	}
	s.w.store = cfg.CRM.store
	s.w.story = cfg.episodes()
	if b := cfg.NoAmountsBranch; b != "" && !s.w.setSloppy(b) {
		log.Warn().Str("account", b).Msg("demo story branch has no simulated crm: no deal amounts go missing")
	}
	st := &stats{}
	snd := &sender{
		base: strings.TrimRight(cfg.CollectorURL, "/"), log: log, st: st, maxAttempts: cfg.MaxAttempts,
		client: &http.Client{Timeout: cfg.RequestTimeout, Transport: cfg.transport},
	}
	r := &runner{cfg: cfg, sim: s, log: log, st: st, batches: make([][]hit, len(s.branches))}
	if cfg.Meter != nil {
		unregister, err := r.metrics(cfg.Meter)
		if err != nil {
			return err
		}
		defer unregister()
	}
	var wg sync.WaitGroup
	work := func(jobs <-chan job) {
		for j := range jobs {
			switch {
			case j.hook != nil:
				snd.hook(ctx, j.hook)
			case j.pixel != nil:
				snd.pixel(ctx, j.key, *j.pixel, j.withTS)
			default:
				snd.events(ctx, j.key, j.batch)
			}
			r.inflight.Done()
		}
	}
	jobs := make(chan job, 4*cfg.Workers)
	r.jobs = jobs
	for range cfg.Workers {
		wg.Go(func() { work(jobs) })
	}
	for range crmLanes {
		lane := make(chan job, 16)
		r.lanes = append(r.lanes, lane)
		wg.Go(func() { work(lane) })
	}
	log.Info().Int("accounts", len(s.branches)).Float64("rate", cfg.Rate).Dur("backfill", cfg.Backfill).
		Str("collector", snd.base).Str("crm_server", cfg.CRM.URL()).Msg("demo traffic starting")
	err = r.run(ctx, start)
	close(jobs)
	for _, l := range r.lanes {
		close(l)
	}
	wg.Wait()
	snd.client.CloseIdleConnections()
	st.summary(log, "demo traffic stopped", 0, 0)
	served, refused := cfg.CRM.Pulls()
	log.Info().Int64("served", served).Int64("refused", refused).Msg("demo crm server pulls")
	s.w.tally.log(log, "demo story")
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type runner struct {
	cfg      Config
	sim      *sim
	jobs     chan<- job
	lanes    []chan job
	inflight sync.WaitGroup // jobs enqueued and not yet answered
	log      zerolog.Logger
	st       *stats
	batches  [][]hit // pending server-side events per account
	live     atomic.Bool
	// storyAt is when each step of the live story happened (Unix ms; 0:
	// not yet), by storyStep.
	storyAt [len(storySteps)]atomic.Int64
}

// storySteps are the live story's steps as throughline_demo_story_timestamp_seconds
// labels them: episode and phase.
var storySteps = [...]struct{ episode, phase string }{
	{"channel silent", "begins"}, {"channel silent", "ends"},
	{"no deal amounts", "begins"}, {"no deal amounts", "ends"},
}

// storyStep is the index in storySteps of an episode's beginning or end.
func storyStep(episode string, begins bool) int {
	for i, s := range storySteps {
		if s.episode == episode && (s.phase == "begins") == begins {
			return i
		}
	}
	panic("demo: unknown story episode " + episode)
}

// metrics registers the demo's metrics with m: throughline_demo_live,
// throughline_demo_story_timestamp_seconds{episode, phase} for each step of
// the story that happened (none before) and the sender's counters,
// throughline_demo_events_total{outcome}. They say on /metrics what the
// logs say in prose, for scripts and tests to wait on and check.
func (r *runner) metrics(m metric.Meter) (unregister func() error, err error) {
	live, err := m.Int64ObservableGauge("throughline_demo_live",
		metric.WithDescription("1 once the demo's history is delivered and taken by the pipeline and live traffic runs"))
	if err != nil {
		return nil, err
	}
	story, err := m.Float64ObservableGauge("throughline_demo_story_timestamp_seconds",
		metric.WithDescription("when a step of the demo's live story happened (Unix time): a channel goes silent and is back, a branch's crm stops sending amounts and its managers enter them"))
	if err != nil {
		return nil, err
	}
	events, err := m.Int64ObservableCounter("throughline_demo_events_total",
		metric.WithDescription("events the demo handed to the collector (sent), that it took (accepted) and that it refused or that ran out of attempts (failed)"))
	if err != nil {
		return nil, err
	}
	outcome := func(o string) metric.ObserveOption {
		return metric.WithAttributes(attribute.String("outcome", o))
	}
	sent, accepted, failed := outcome("sent"), outcome("accepted"), outcome("failed")
	attrs := make([]metric.ObserveOption, len(storySteps))
	for i, s := range storySteps {
		attrs[i] = metric.WithAttributes(attribute.String("episode", s.episode), attribute.String("phase", s.phase))
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var v int64
		if r.live.Load() {
			v = 1
		}
		o.ObserveInt64(live, v)
		o.ObserveInt64(events, r.st.sent.Load(), sent)
		o.ObserveInt64(events, r.st.accepted.Load(), accepted)
		o.ObserveInt64(events, r.st.failed.Load(), failed)
		for i := range storySteps {
			if ms := r.storyAt[i].Load(); ms > 0 {
				o.ObserveFloat64(story, float64(ms)/1000, attrs[i])
			}
		}
		return nil
	}, live, story, events)
	if err != nil {
		return nil, err
	}
	return reg.Unregister, nil
}

func (r *runner) run(ctx context.Context, start time.Time) error {
	if r.cfg.Backfill > 0 {
		if !r.backfill(ctx, start) {
			return ctx.Err()
		}
	}
	r.sim.w.store.setDirectReady() // the pulled Direct reports are "built"
	r.live.Store(true)
	return r.goLive(ctx)
}

// backfill replays history on a simulated clock, busier by day than by
// night (Moscow time), all through the events API in batches.
func (r *runner) backfill(ctx context.Context, end time.Time) bool {
	perEvent := 24 * time.Hour / time.Duration(r.cfg.BackfillPerDay)
	from := end.Add(-r.cfg.Backfill)
	prog := newProgress(r.cfg.Progress, r.log, r.st, from, end)
	n := 0
	for t := from; t.Before(end); n++ {
		prog.at(t)
		h := r.sim.next(t)
		h.server = true
		if !r.add(ctx, h) || !r.dispatch(ctx, r.sim.w.due(t)) {
			return false
		}
		t = t.Add(time.Duration(float64(perEvent) / diurnal[t.In(msk).Hour()]))
	}
	if !r.flush(ctx) || !r.dispatch(ctx, r.sim.w.due(end)) {
		return false
	}
	r.log.Info().Int("events", n).Dur("history", r.cfg.Backfill).Msg("demo backfill queued")
	if !r.hooks(ctx, 0, r.sim.w.goLive(end, r.cfg.CRMTrickle)) {
		return false
	}
	// Wait for the history's answers, so the counters say what it did,
	// and for the pipeline to take it all.
	r.inflight.Wait()
	if !r.settle(ctx, prog) {
		return false
	}
	prog.done()
	r.st.summary(r.log, "demo backfill delivered", 0, 0)
	r.sim.w.tally.log(r.log, "demo story")
	return true
}

// diurnal is the relative traffic per hour of day; it averages 1.
var diurnal = [24]float64{0.25, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.3, 1.5, 1.6,
	1.6, 1.6, 1.5, 1.5, 1.5, 1.5, 1.6, 1.7, 1.6, 1.3, 0.9, 0.5}

// goLive sends cfg.Rate events per second, paced on a 100 ms tick.
func (r *runner) goLive(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	lastFlush, lastSummary, lastCosts := last, last, last
	r.sim.w.story.start(last) // timed from now, however long the backfill took
	if !r.sim.w.live {
		if !r.hooks(ctx, 0, r.sim.w.goLive(last, r.cfg.CRMTrickle)) {
			return nil
		}
	}
	var prevAccepted int64
	budget := 0.0
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			// A collector that falls behind slows the loop down; the budget is
			// capped so it does not then get a burst to catch up.
			budget = min(budget+r.cfg.Rate*now.Sub(last).Seconds(), r.cfg.Rate+1)
			last = now
			for ; budget >= 1; budget-- {
				if !r.add(ctx, r.sim.next(now)) {
					return nil
				}
			}
			if !r.dispatch(ctx, r.sim.w.due(now)) {
				return nil
			}
			r.logStory(now)
			if now.Sub(lastCosts) >= r.cfg.CostsEvery {
				if !r.hooks(ctx, 0, r.sim.w.costUploads(r.sim.w.day, false, now)) {
					return nil
				}
				lastCosts = now
			}
			if now.Sub(lastFlush) >= time.Second {
				if !r.flush(ctx) {
					return nil
				}
				lastFlush = now
			}
			if since := now.Sub(lastSummary); since >= r.cfg.SummaryEvery {
				prevAccepted = r.st.summary(r.log, "demo traffic", prevAccepted, since)
				lastSummary = now
			}
		}
	}
}

// logStory logs the live story's incidents as they begin and end: what
// the alerts that follow are about.
func (r *runner) logStory(now time.Time) {
	for _, n := range r.sim.w.storyNews(now) {
		r.storyAt[storyStep(n.episode, n.begins)].Store(now.UnixMilli())
		ev := r.log.Info().Str("episode", n.episode).Bool("begins", n.begins)
		switch {
		case n.channel != "" && n.begins:
			ev.Str("channel", n.channel).Msg("demo story: a channel goes silent")
		case n.channel != "":
			ev.Str("channel", n.channel).Msg("demo story: the channel is back")
		case n.begins:
			ev.Str("account", n.account).Msg("demo story: a branch's crm stops sending deal amounts")
		default:
			ev.Str("account", n.account).Int("deals", n.deals).Msg("demo story: the branch's managers enter the missing amounts")
		}
	}
}

// add queues a pixel hit, or adds a server-side event to its account's batch.
func (r *runner) add(ctx context.Context, h hit) bool {
	key := r.sim.branches[h.account].key
	if !h.server {
		return r.enqueue(ctx, job{key: key, pixel: &h})
	}
	b := append(r.batches[h.account], h)
	r.batches[h.account] = b
	if len(b) >= r.cfg.BatchSize {
		r.batches[h.account] = nil
		return r.enqueue(ctx, job{key: key, batch: b})
	}
	return true
}

func (r *runner) flush(ctx context.Context) bool {
	for i, b := range r.batches {
		if len(b) == 0 {
			continue
		}
		r.batches[i] = nil
		if !r.enqueue(ctx, job{key: r.sim.branches[i].key, batch: b}) {
			return false
		}
	}
	return true
}

// dispatch sends the actions due: each lane's on its CRM lane, in order.
func (r *runner) dispatch(ctx context.Context, acts []*action) bool {
	for _, a := range acts {
		if !r.hooks(ctx, a.lane, a.make(a.due)) {
			return false
		}
	}
	return true
}

func (r *runner) hooks(ctx context.Context, lane uint64, reqs []*hookReq) bool {
	for _, h := range reqs {
		ch := r.jobs
		if lane != 0 {
			ch = r.lanes[lane%uint64(len(r.lanes))]
		}
		if !r.send(ctx, ch, job{hook: h}) {
			return false
		}
	}
	return true
}

func (r *runner) enqueue(ctx context.Context, j job) bool { return r.send(ctx, r.jobs, j) }

func (r *runner) send(ctx context.Context, ch chan<- job, j job) bool {
	r.inflight.Add(1)
	select {
	case ch <- j:
		return true
	case <-ctx.Done():
		r.inflight.Done()
		return false
	}
}
