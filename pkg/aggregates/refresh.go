package aggregates

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/telemetry"
)

// RefreshConfig configures the refresher.
type RefreshConfig struct {
	// Interval between refresh rounds; 0 turns the refresher off. The
	// refresher service (services/refresher) runs the rounds only while it
	// leads its database's group, so one works per database.
	Interval time.Duration
	// Lookback is how far before the last round's start the change log is
	// read again, so a change row committed a little after the time stamp it
	// carries is still found. Rows already processed are skipped.
	Lookback time.Duration
	// Settle is how long after a change an account is recomputed a second
	// time, so the aggregates are right even if the entity rows of an insert
	// became visible after its change-log row.
	Settle time.Duration
	// FullEvery recomputes every account this often, as a backstop; 0 never
	// (the first round after start-up with no record is always full).
	FullEvery time.Duration
	// Batch is how many accounts one recomputation statement covers.
	Batch int
}

// Defaults of RefreshConfig.
const (
	DefaultRefreshInterval = time.Second
	DefaultLookback        = 30 * time.Second
	DefaultSettle          = 5 * time.Second
	DefaultFullEvery       = 24 * time.Hour
	DefaultBatch           = 25
)

// RegisterFlags registers the refresher's settings (env THROUGHLINE_ANALYTICS_*).
func (c *RefreshConfig) RegisterFlags(fs *flag.FlagSet) {
	flagenv.Duration(fs, &c.Interval, "analytics-refresh-interval", DefaultRefreshInterval, "how often the report aggregates are brought up to date (0: off)")
	flagenv.Duration(fs, &c.Lookback, "analytics-refresh-lookback", DefaultLookback, "how far back each round re-reads the change log")
	flagenv.Duration(fs, &c.Settle, "analytics-refresh-settle", DefaultSettle, "a changed account is recomputed again this long after the change")
	flagenv.Duration(fs, &c.FullEvery, "analytics-full-refresh-every", DefaultFullEvery, "recompute every account this often as a backstop (0: never)")
	flagenv.Int(fs, &c.Batch, "analytics-refresh-batch", DefaultBatch, "accounts recomputed per statement")
}

// withDefaults fills zero values other than Interval and FullEvery, whose
// zero means off.
func (c RefreshConfig) withDefaults() RefreshConfig {
	c.Lookback = cmp.Or(c.Lookback, DefaultLookback)
	c.Settle = cmp.Or(c.Settle, DefaultSettle)
	c.Batch = cmp.Or(c.Batch, DefaultBatch)
	return c
}

// Validate names the setting that is wrong.
func (c RefreshConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("analytics-refresh-interval: %v is negative", c.Interval))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("analytics-refresh-settle: %v is negative", c.Settle))
	}
	if c.Lookback <= c.Settle {
		errs = append(errs, fmt.Errorf("analytics-refresh-lookback: %v must be longer than analytics-refresh-settle (%v)", c.Lookback, c.Settle))
	}
	if c.FullEvery < 0 {
		errs = append(errs, fmt.Errorf("analytics-full-refresh-every: %v is negative", c.FullEvery))
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("analytics-refresh-batch: %d must be at least 1", c.Batch))
	}
	return errors.Join(errs...)
}

// Zones tells the time zone an account's days are cut in (IANA name).
type Zones func(tenant, account string) string

// RefreshDeps are what the refresher is given.
type RefreshDeps struct {
	Tel   *telemetry.Telemetry
	Store chstore.Store
	// Database holds the tables.
	Database string
	// Zones gives each account's time zone; nil means UTC everywhere.
	Zones Zones
}

// Refresher keeps the aggregates up to date. Rounds never overlap.
type Refresher struct {
	cfg   RefreshConfig
	store chstore.Store
	db    string
	zones Zones
	log   zerolog.Logger

	mu           sync.Mutex
	loaded       bool
	zonesChecked bool // accounts whose time zone changed were recomputed
	outdated     bool // the aggregates hold rows of an older schema: recompute all
	watermark    time.Time
	savedAt      time.Time // when the watermark was last recorded
	lastFull     time.Time
	seen         map[changeKey]*seenChange
	asOf         atomic.Int64 // start of the last successful round, Unix ns

	rounds   metric.Int64Counter
	accounts metric.Int64Counter
	duration metric.Float64Histogram
}

type changeKey struct {
	at                     int64 // changed_at, Unix ms
	tenant, account, table string
	partition              uint32
	first, last            uint64
}

type seenChange struct {
	at      time.Time
	settled bool // recomputed again after Settle
}

// Account is one tenant's account.
type Account struct{ Tenant, Account string }

// RoundStats says what a round did.
type RoundStats struct {
	Full     bool
	Accounts []Account
	// SpendTenants are the tenants whose spend (and its allocation) was
	// recomputed: their costs or sessions changed.
	SpendTenants []string
	Version      uint64
	Took         time.Duration
}

// NewRefresher checks the configuration; Run starts the rounds.
func NewRefresher(cfg RefreshConfig, deps RefreshDeps) (*Refresher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("analytics refresher: a store is required")
	}
	if deps.Database == "" {
		return nil, errors.New("analytics refresher: a database is required")
	}
	tel := deps.Tel
	if tel == nil {
		tel = telemetry.Nop()
	}
	zones := deps.Zones
	if zones == nil {
		zones = func(string, string) string { return "UTC" }
	}
	r := &Refresher{cfg: cfg.withDefaults(), store: deps.Store, db: chstore.QuoteIdent(deps.Database), zones: zones,
		log: tel.Log.With().Str("component", "analytics").Logger(), seen: map[changeKey]*seenChange{}}
	var err error
	if r.rounds, err = tel.Meter.Int64Counter("analytics.refresh.rounds",
		metric.WithDescription("refresh rounds of the report aggregates, by outcome (ok, failed) and kind (changes, full)")); err != nil {
		return nil, fmt.Errorf("creating analytics metrics: %w", err)
	}
	if r.accounts, err = tel.Meter.Int64Counter("analytics.refresh.accounts",
		metric.WithDescription("accounts whose aggregates were recomputed")); err != nil {
		return nil, fmt.Errorf("creating analytics metrics: %w", err)
	}
	if r.duration, err = tel.Meter.Float64Histogram("analytics.refresh.duration", metric.WithUnit("s"),
		metric.WithDescription("time of a refresh round that recomputed something")); err != nil {
		return nil, fmt.Errorf("creating analytics metrics: %w", err)
	}
	return r, nil
}

// refreshDuty paces the rounds: after a round that took d, the next starts
// no sooner than refreshDuty × d later (and Interval at least), so rounds
// take at most a fifth of the time. A round recomputes each changed
// account's whole history in the engine; under a steady stream of events
// every account that gets them changes every second, and rounds every
// Interval took the largest share of the all-in-one's core, ahead of the
// collector (docs/benchmarks.md, edge figures). Reports then lag by a few
// rounds' time instead of one Interval, and only while rounds are slow.
const (
	refreshDuty    = 4
	refreshMaxWait = time.Minute // pacing never waits longer (unless Interval is longer)
)

// nextRound is how long after a round that took took the next one starts.
func (c RefreshConfig) nextRound(took time.Duration) time.Duration {
	return max(c.Interval, min(refreshDuty*took, refreshMaxWait))
}

// Run refreshes every Interval until ctx ends, paced by the rounds' own
// time (nextRound). A failed round is logged and retried at the next one;
// nothing it did is lost or counted twice, since every round recomputes
// from the entity tables.
func (r *Refresher) Run(ctx context.Context) error {
	if r.cfg.Interval <= 0 {
		return nil
	}
	t := time.NewTimer(r.cfg.Interval)
	defer t.Stop()
	for {
		st, err := r.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Error().Err(err).Msg("refreshing report aggregates")
		case err == nil && len(st.Accounts)+len(st.SpendTenants) > 0:
			r.log.Debug().Int("accounts", len(st.Accounts)).Int("spend_tenants", len(st.SpendTenants)).Bool("full", st.Full).Dur("took", st.Took).Msg("report aggregates refreshed")
		}
		t.Reset(r.cfg.nextRound(st.Took))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// AsOf is when the last successful round started: every entity row
// committed before it is in the aggregates (zero before the first round).
func (r *Refresher) AsOf() time.Time {
	if ns := r.asOf.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Refresh runs one round: it finds the accounts whose entities changed since
// the last round (all of them in a full round) and recomputes their
// aggregates.
func (r *Refresher) Refresh(ctx context.Context) (RoundStats, error) {
	return r.round(ctx, false)
}

// Rebuild recomputes every account's aggregates.
func (r *Refresher) Rebuild(ctx context.Context) (RoundStats, error) {
	return r.round(ctx, true)
}

func (r *Refresher) round(ctx context.Context, full bool) (st RoundStats, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	kind := "changes"
	defer func() {
		outcome := "ok"
		if err != nil {
			outcome = "failed"
		}
		r.rounds.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", outcome), attribute.String("kind", kind)))
		st.Took = time.Since(start)
		if err == nil && len(st.Accounts)+len(st.SpendTenants) > 0 {
			r.duration.Record(context.Background(), st.Took.Seconds())
			r.accounts.Add(context.Background(), int64(len(st.Accounts)))
		}
	}()
	version, now, err := r.clock(ctx)
	if err != nil {
		return st, err
	}
	st.Version = version
	if !r.loaded {
		if r.watermark, err = r.loadWatermark(ctx); err != nil {
			return st, err
		}
		if r.outdated, err = r.outdatedRows(ctx); err != nil {
			return st, err
		}
		r.loaded = true
	}
	full = full || r.watermark.IsZero() || r.outdated || (r.cfg.FullEvery > 0 && !r.lastFull.IsZero() && now.Sub(r.lastFull) >= r.cfg.FullEvery)
	if r.lastFull.IsZero() {
		r.lastFull = now // the backstop counts from start-up
	}
	var dirty []Account
	var done []changeKey
	spend := map[string]bool{} // tenants whose spend is recomputed
	changes, err := r.readChanges(ctx, r.watermark.Add(-r.cfg.Lookback))
	if err != nil {
		return st, err
	}
	if full {
		kind = "full"
		if dirty, err = r.allAccounts(ctx); err != nil {
			return st, err
		}
		for _, a := range dirty {
			spend[a.Tenant] = true
		}
		// Changes visible now are covered by the full round; each is still
		// recomputed once more after Settle.
		for _, c := range changes {
			if r.seen[c.key] == nil {
				done = append(done, c.key)
			}
		}
	} else {
		set := map[Account]bool{}
		for _, c := range changes {
			s := r.seen[c.key]
			if s == nil || !s.settled && now.Sub(c.at) >= r.cfg.Settle {
				done = append(done, c.key)
				// Central spend follows the sessions of every account.
				if c.key.table == "costs" || c.key.table == "sessions" {
					spend[c.key.tenant] = true
				}
				if c.key.table != "costs" {
					set[Account{c.key.tenant, c.key.account}] = true
				}
			}
		}
		if !r.zonesChecked {
			moved, err := r.movedZones(ctx)
			if err != nil {
				return st, err
			}
			for _, a := range moved {
				set[a] = true
				spend[a.Tenant] = true
			}
		}
		for a := range set {
			dirty = append(dirty, a)
		}
	}
	sortAccounts(dirty)
	tenants := make([]string, 0, len(spend))
	for t := range spend {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	if err := r.recompute(ctx, dirty, tenants, version); err != nil {
		return st, err
	}
	r.zonesChecked = true
	for _, k := range done {
		if s := r.seen[k]; s != nil {
			s.settled = true
		} else {
			r.seen[k] = &seenChange{at: time.UnixMilli(k.at)}
		}
	}
	if full {
		r.lastFull = now
		r.outdated = false
	}
	r.watermark = now
	// An idle round records nothing but the watermark; record it now and
	// then only, so an idle refresher does not insert every second. A
	// restart re-reads from the older record: repeated work, no lost change.
	if len(done) > 0 || full || now.Sub(r.savedAt) >= time.Minute {
		if err := r.saveWatermark(ctx, version, now); err != nil {
			return st, err
		}
		r.savedAt = now
	}
	floor := now.Add(-r.cfg.Lookback)
	for k, s := range r.seen {
		if s.at.Before(floor) {
			delete(r.seen, k)
		}
	}
	st.Full, st.Accounts, st.SpendTenants = full, dirty, tenants
	r.asOf.Store(start.UnixNano())
	return st, nil
}

func sortAccounts(as []Account) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].Tenant != as[j].Tenant {
			return as[i].Tenant < as[j].Tenant
		}
		return as[i].Account < as[j].Account
	})
}

// outdatedRows tells whether the aggregates hold rows written before a
// migration added columns the refresher fills: leads_daily rows whose leads
// by kind (0011_kinds_units.sql) do not sum to their leads. Then the first
// round recomputes every account, so an upgrade needs no manual rebuild.
func (r *Refresher) outdatedRows(ctx context.Context) (bool, error) {
	res, err := r.store.Query(ctx, r.sql(`SELECT count() FROM (
    SELECT 1 FROM ${db}.leads_daily FINAL
    WHERE abs(leads - (leads_call + leads_form + leads_chat + leads_crm)) > 1e-6
    LIMIT 1)`), nil)
	if err != nil {
		return false, fmt.Errorf("checking the aggregates' columns: %w", err)
	}
	return len(res.Rows) == 1 && chstore.AsInt64(res.Rows[0][0]) > 0, nil
}

// clock is the engine's time: the version of this round's rows (ns) and now.
func (r *Refresher) clock(ctx context.Context) (uint64, time.Time, error) {
	res, err := r.store.Query(ctx, "SELECT toUnixTimestamp64Nano(now64(9))", nil)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("reading the engine's clock: %w", err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return 0, time.Time{}, errors.New("reading the engine's clock: unexpected answer")
	}
	ns, err := strconv.ParseUint(fmt.Sprint(res.Rows[0][0]), 10, 64)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("reading the engine's clock: %w", err)
	}
	return ns, time.Unix(0, int64(ns)).UTC(), nil
}
