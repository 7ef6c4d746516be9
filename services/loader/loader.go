// Package loader moves Kafka topics into ClickHouse tables exactly once.
//
// Each topic is mapped to a table by a Sink. Records are batched per
// topic-partition and flushed by size or age. A flush writes the batch's
// offset range to the loader_batches table first (a write-ahead record),
// then inserts the rows with a deduplication token derived from that range,
// and commits the Kafka offset only after ClickHouse accepted the rows. After
// a crash or rebalance the recorded ranges are re-formed exactly, so a retried
// insert carries the same token and ClickHouse drops what it already has.
// docs/design/loader-exactly-once.md gives the reasoning.
package loader

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
)

// Config of the loader. Defaults live in RegisterFlags.
type Config struct {
	// Group is the Kafka consumer group; it is also the consumer name in
	// loader_batches and the first element of every deduplication token.
	Group string
	// InstanceID is the static group membership id (KIP-345): unique per
	// running instance and stable across its restarts, so a restarted (or
	// SIGKILLed) loader takes its partitions back at once instead of
	// waiting out its dead predecessor's session timeout. Empty: dynamic
	// membership.
	InstanceID string
	// MaxRows flushes a table when one of its partitions holds this many
	// records; it also bounds one partition's batch.
	MaxRows int
	// MaxAge flushes a table this long after the oldest record of any of its
	// partitions arrived, which bounds end-to-end freshness under light load.
	// A flush inserts every partition of the table at once: one insert, one
	// part in the engine, whatever the number of partitions. Under a backlog
	// age does not cut: a batch waits for the running insert (and grows)
	// while more of its partition is in Kafka, and is cut at once when no
	// insert is running and more than MaxRows wait.
	MaxAge time.Duration
	// QuietMaxAge is MaxAge for the quiet tables (Sink.Quiet: dead letters,
	// costs, alerts), which get a few rows at a time: each insert costs the
	// engine a part whatever its size. Never below MaxAge.
	QuietMaxAge time.Duration
	// Database holds the tables (flag clickhouse-database, shared with the store).
	Database string
	// MaxPollRecords bounds the records taken from the client per poll.
	MaxPollRecords int
	// Workers is how many batches are decoded and inserted concurrently.
	Workers int
	// RetryMin and RetryMax bound the backoff between retries of a
	// ClickHouse or dead-letter write that failed.
	RetryMin, RetryMax time.Duration
	// ShutdownTimeout bounds the final flush and commit when Run's context ends.
	ShutdownTimeout time.Duration
	// DedupWindow is how long an accepted event id keeps a repeat of it out
	// of the tables of sinks with an IDColumn (events); 0 turns it off.
	// Deps.DedupWindow overrides it per tenant.
	DedupWindow time.Duration
	// Sinks map topics to tables; nil means DefaultSinks(). Not a flag.
	Sinks []Sink
}

// RegisterFlags registers the loader's settings on fs (env: THROUGHLINE_LOADER_*,
// THROUGHLINE_CLICKHOUSE_DATABASE).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	flagenv.String(fs, &c.Group, "loader-group", "throughline-loader", "Kafka consumer group of the loader")
	flagenv.String(fs, &c.InstanceID, "loader-instance-id", "throughline-loader-"+cmp.Or(host, "local"),
		"static group membership id: unique per instance, stable across its restarts (empty: dynamic membership)")
	flagenv.Int(fs, &c.MaxRows, "loader-max-rows", 20000, "flush a partition's batch at this many records")
	flagenv.Duration(fs, &c.MaxAge, "loader-max-age", 200*time.Millisecond, "flush a table this long after its oldest unflushed record (under a backlog, batches are cut by size)")
	flagenv.Duration(fs, &c.QuietMaxAge, "loader-quiet-max-age", 5*time.Second, "loader-max-age of the quiet tables: dead letters, costs, alerts")
	flagenv.String(fs, &c.Database, "clickhouse-database", "throughline", "database of Throughline's tables")
	flagenv.Int(fs, &c.MaxPollRecords, "loader-max-poll-records", 10000, "records taken from Kafka per poll")
	flagenv.Int(fs, &c.Workers, "loader-workers", runtime.GOMAXPROCS(0), "batches decoded and inserted concurrently")
	flagenv.Duration(fs, &c.RetryMin, "loader-retry-min", 100*time.Millisecond, "first backoff after a failed ClickHouse write")
	flagenv.Duration(fs, &c.RetryMax, "loader-retry-max", 10*time.Second, "longest backoff between ClickHouse write retries")
	flagenv.Duration(fs, &c.DedupWindow, "loader-dedup-window", 7*24*time.Hour,
		"how long an accepted event id keeps its repeats out of events (0: off; at most 720h)")
	flagenv.Duration(fs, &c.ShutdownTimeout, "loader-shutdown-timeout", 10*time.Second, "time for the final flush and commit at shutdown")
}

// DefaultConfig is the configuration of RegisterFlags' defaults, for code
// that builds a Config without flags.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	return c
}

// Validate names the setting that is wrong. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, errors.New("loader-group: required"))
	}
	if c.MaxRows < 1 {
		errs = append(errs, fmt.Errorf("loader-max-rows: %d, must be at least 1", c.MaxRows))
	}
	if c.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("loader-max-age: %s, must be positive", c.MaxAge))
	}
	if c.QuietMaxAge < 0 {
		errs = append(errs, fmt.Errorf("loader-quiet-max-age: %s, must not be negative", c.QuietMaxAge))
	}
	if c.Database == "" {
		errs = append(errs, errors.New("clickhouse-database: required"))
	}
	if c.MaxPollRecords < 1 {
		errs = append(errs, fmt.Errorf("loader-max-poll-records: %d, must be at least 1", c.MaxPollRecords))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("loader-workers: %d, must be at least 1", c.Workers))
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("loader-retry-min/max: %s/%s, need 0 < min <= max", c.RetryMin, c.RetryMax))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("loader-shutdown-timeout: %s, must be positive", c.ShutdownTimeout))
	}
	if err := dedupWindowOK(c.DedupWindow); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for _, s := range c.Sinks {
		if err := s.validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[s.Topic] {
			errs = append(errs, fmt.Errorf("loader sinks: topic %s has two sinks", s.Topic))
		}
		seen[s.Topic] = true
	}
	return errors.Join(errs...)
}

// Deps are what the loader is given.
type Deps struct {
	Tel   *telemetry.Telemetry
	Store chstore.Store
	Kafka kafka.Config
	// DedupWindow is a tenant's own deduplication window, when it has one
	// (tenants file); otherwise Config.DedupWindow applies. Optional.
	DedupWindow func(tenant string) (time.Duration, bool)
}

// Loader consumes the sinks' topics and loads them into ClickHouse.
type Loader struct {
	cfg    Config
	deps   Deps
	log    zerolog.Logger
	sinks  map[string]*sink
	met    *metrics
	hooks  hooks
	mu     sync.Mutex // guards parts and their states
	parts  map[tp]*partState
	cl     *kgo.Client
	ranOne bool
	// rebalanceWanted is set when a rebalance waits for the consume loop.
	rebalanceWanted atomic.Bool
	crashed         atomic.Bool // a test hook stopped the loader
	// recovered are the flushes re-inserted since start (recover.go): a
	// partition of one found later only skips past its range.
	recovered map[uint64]bool
}

// hooks let tests stop the loader at the points where a crash hurts most.
type hooks struct {
	// afterInsert runs after a flush's rows were accepted and before the
	// offsets are committed; an error makes Run return at once, committing
	// nothing, as a crash would.
	afterInsert func() error
	// beforeInsert runs after a round's ranges were recorded and before its
	// rows are inserted; an error makes Run return at once, inserting and
	// committing nothing, as a crash would.
	beforeInsert func() error
	// clientOpts are added to the Kafka client's options.
	clientOpts []kgo.Opt
}

type tp struct {
	topic     string
	partition int32
}

// New checks the configuration and prepares a loader; Run starts it.
func New(cfg Config, deps Deps) (*Loader, error) {
	if cfg.Sinks == nil {
		cfg.Sinks = DefaultSinks()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("loader: a ClickHouse store is required")
	}
	if err := deps.Kafka.Validate(); err != nil {
		return nil, err
	}
	if deps.Tel == nil {
		deps.Tel = telemetry.Nop()
	}
	l := &Loader{
		cfg:       cfg,
		deps:      deps,
		log:       deps.Tel.Log.With().Str("component", "loader").Logger(),
		sinks:     map[string]*sink{},
		parts:     map[tp]*partState{},
		recovered: map[uint64]bool{},
	}
	for i := range cfg.Sinks {
		s, err := newSink(cfg.Sinks[i], cfg.Database)
		if err != nil {
			return nil, err
		}
		l.sinks[s.Topic] = s
	}
	var err error
	if l.met, err = newMetrics(deps.Tel); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Loader) topics() []string {
	out := make([]string, 0, len(l.sinks))
	for t := range l.sinks {
		out = append(out, t)
	}
	return out
}

// Run consumes until ctx is done, then flushes what it buffered, commits and
// returns. It may be called once.
func (l *Loader) Run(ctx context.Context) error {
	if l.ranOne {
		return errors.New("loader: Run called twice")
	}
	l.ranOne = true
	opts := append(kafka.BaseOpts(l.deps.Kafka, l.deps.Tel.Log),
		kgo.ConsumerGroup(l.cfg.Group),
		kgo.ConsumeTopics(l.topics()...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { l.rebalanceWanted.Store(true) }),
		kgo.OnPartitionsRevoked(l.onRevoked),
		kgo.OnPartitionsLost(l.onRevoked),
	)
	if l.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(l.cfg.InstanceID))
	}
	opts = append(opts, kafka.ProducerOpts(10000)...)
	opts = append(opts, l.hooks.clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating loader kafka client: %w", err)
	}
	l.cl = cl
	reg, err := l.met.observeLag(l)
	if err != nil {
		cl.Close()
		return err
	}
	defer reg.Unregister()
	l.log.Info().Str("group", l.cfg.Group).Strs("topics", l.topics()).Msg("loader started")

	// Writes in flight when ctx ends get ShutdownTimeout to finish; retries
	// stop at once.
	wctx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.NewTimer(l.cfg.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWrites()
		case <-wctx.Done():
		}
	})
	defer stopGrace()

	ins := l.startInserter(ctx, wctx)
	err = l.consume(ctx, ins)
	ins.close()
	if l.crashed.Load() {
		err = errCrash
	}
	if err != nil && ctx.Err() == nil {
		// A crash (test hook) or a fatal client error: nothing more is
		// committed; what was not committed is loaded again next time.
		cl.CloseAllowingRebalance()
		return err
	}
	err = nil
	if batches := l.takeDue(time.Now(), false, true); len(batches) > 0 {
		r := &round{batches: batches, final: true}
		if err = l.stage(wctx, r, true); err == nil {
			err = l.insertRound(wctx, wctx, r)
		}
	}
	l.commit(wctx)
	cl.CloseAllowingRebalance()
	if err != nil {
		return fmt.Errorf("loader: final flush: %w", err)
	}
	l.log.Info().Msg("loader stopped")
	return nil
}

// onRevoked forgets the partitions taken away. Rebalances wait until every
// flush is inserted and committed (or recorded, if the commit failed); what
// was only buffered is read again by the next owner from the committed
// offset.
func (l *Loader) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, parts := range revoked {
		for _, p := range parts {
			delete(l.parts, tp{topic, p})
		}
	}
}
