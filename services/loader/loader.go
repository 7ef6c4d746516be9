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
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/schemas"
)

// Config of the loader. Defaults live in RegisterFlags.
type Config struct {
	// Group is the Kafka consumer group; it is also the consumer name in
	// loader_batches and the first element of every deduplication token.
	Group string
	// MaxRows flushes a partition's batch when it holds this many records.
	MaxRows int
	// MaxAge flushes a partition's batch this long after its first record
	// arrived, which bounds end-to-end freshness under light load.
	MaxAge time.Duration
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
	// Sinks map topics to tables; nil means DefaultSinks(). Not a flag.
	Sinks []Sink
}

// RegisterFlags registers the loader's settings on fs (env: THROUGHLINE_LOADER_*,
// THROUGHLINE_CLICKHOUSE_DATABASE).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	flagenv.String(fs, &c.Group, "loader-group", "throughline-loader", "Kafka consumer group of the loader")
	flagenv.Int(fs, &c.MaxRows, "loader-max-rows", 20000, "flush a partition's batch at this many records")
	flagenv.Duration(fs, &c.MaxAge, "loader-max-age", 200*time.Millisecond, "flush a partition's batch this long after its first record")
	flagenv.String(fs, &c.Database, "clickhouse-database", "throughline", "database of Throughline's tables")
	flagenv.Int(fs, &c.MaxPollRecords, "loader-max-poll-records", 10000, "records taken from Kafka per poll")
	flagenv.Int(fs, &c.Workers, "loader-workers", runtime.GOMAXPROCS(0), "batches decoded and inserted concurrently")
	flagenv.Duration(fs, &c.RetryMin, "loader-retry-min", 100*time.Millisecond, "first backoff after a failed ClickHouse write")
	flagenv.Duration(fs, &c.RetryMax, "loader-retry-max", 10*time.Second, "longest backoff between ClickHouse write retries")
	flagenv.Duration(fs, &c.ShutdownTimeout, "loader-shutdown-timeout", 10*time.Second, "time for the final flush and commit at shutdown")
}

// Validate names the setting that is wrong.
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
}

// Loader consumes the sinks' topics and loads them into ClickHouse.
type Loader struct {
	cfg    Config
	deps   Deps
	log    zerolog.Logger
	sinks  map[string]*sink
	met    *metrics
	hooks  hooks
	mu     sync.Mutex // guards parts against the rebalance callbacks
	parts  map[tp]*partState
	cl     *kgo.Client
	ranOne bool
}

// hooks let tests stop the loader at the points where a crash hurts most.
type hooks struct {
	// afterInsert runs after a flush's rows were accepted and before the
	// offsets are committed; an error makes Run return at once, committing
	// nothing, as a crash would.
	afterInsert func() error
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
		cfg:   cfg,
		deps:  deps,
		log:   deps.Tel.Log.With().Str("component", "loader").Logger(),
		sinks: map[string]*sink{},
		parts: map[tp]*partState{},
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

// Migrate applies Throughline's ClickHouse migrations to db. The loader does
// not migrate by itself; binaries call this at start.
func Migrate(ctx context.Context, store chstore.Store, db string) error {
	migs, err := chstore.LoadMigrations(schemas.ClickHouse, schemas.ClickHouseDir)
	if err != nil {
		return err
	}
	if _, err := chstore.Migrate(ctx, store, db, migs); err != nil {
		return fmt.Errorf("migrating clickhouse database %s: %w", db, err)
	}
	return nil
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
		kgo.OnPartitionsRevoked(l.onRevoked),
		kgo.OnPartitionsLost(l.onRevoked),
	)
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

	if err := l.consume(ctx); err != nil && ctx.Err() == nil {
		// A crash (test hook) or a fatal client error: nothing more is
		// committed; what was not committed is loaded again next time.
		cl.CloseAllowingRebalance()
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.ShutdownTimeout)
	defer cancel()
	err = l.flushDue(sctx, time.Now(), true)
	cl.CloseAllowingRebalance()
	l.log.Info().Msg("loader stopped")
	return err
}

// consume is the poll → buffer → flush → commit loop. Rebalances are held
// off from a poll until AllowRebalance, so a flush and its commit are never
// cut in two by a partition moving to another member.
func (l *Loader) consume(ctx context.Context) error {
	for ctx.Err() == nil {
		wait := l.pollWait(time.Now())
		pctx, cancel := context.WithTimeout(ctx, wait)
		fetches := l.cl.PollRecords(pctx, l.cfg.MaxPollRecords)
		cancel()
		if fetches.IsClientClosed() {
			return errors.New("loader: kafka client closed")
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			l.log.Warn().Err(err).Str("topic", topic).Int32("partition", p).Msg("fetch error")
		})
		var bufErr error
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if bufErr == nil {
				bufErr = l.buffer(ctx, p)
			}
		})
		if bufErr != nil {
			return bufErr
		}
		if err := l.flushDue(ctx, time.Now(), false); err != nil {
			return err
		}
		l.cl.AllowRebalance()
	}
	return nil
}

// pollWait is how long a poll may block: until the oldest buffered batch is
// due, and at most a second so failed commits are retried.
func (l *Loader) pollWait(now time.Time) time.Duration {
	wait := time.Second
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.parts {
		if due, ok := p.due(l.cfg.MaxAge); ok {
			wait = min(wait, due.Sub(now))
		}
	}
	return max(wait, time.Millisecond)
}

// onRevoked forgets the partitions taken away. Everything flushed was
// committed or recorded before the rebalance was allowed; what was only
// buffered is read again by the next owner from the committed offset.
func (l *Loader) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, parts := range revoked {
		for _, p := range parts {
			delete(l.parts, tp{topic, p})
		}
	}
}

// buffer adds a fetched partition's records to its state, first loading the
// ranges recorded for it but not committed when the partition is new to us.
func (l *Loader) buffer(ctx context.Context, f kgo.FetchTopicPartition) error {
	if len(f.Records) == 0 {
		return nil
	}
	s := l.sinks[f.Topic]
	if s == nil {
		return nil
	}
	key := tp{f.Topic, f.Partition}
	l.mu.Lock()
	st := l.parts[key]
	if st == nil {
		st = newPartState(s, f.Partition)
		l.parts[key] = st
	}
	l.mu.Unlock()
	if !st.loaded {
		ranges, err := l.recordedRanges(ctx, st, f.Records[0].Offset)
		if err != nil {
			return err
		}
		st.loaded, st.planned = true, ranges
		if len(ranges) > 0 {
			l.log.Info().Str("topic", f.Topic).Int32("partition", f.Partition).Int("batches", len(ranges)).
				Int64("from", ranges[0].first).Msg("re-forming recorded batches")
		}
	}
	l.mu.Lock()
	st.add(f.Records, f.HighWatermark, time.Now())
	l.mu.Unlock()
	return nil
}
