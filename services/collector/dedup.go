package collector

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/topicwindow"
)

// The collector's part of idempotency by event id
// (docs/design/event-idempotency.md). The guarantee is the loader's: it
// keeps a repeated (tenant, account, id) out of events within the window,
// whatever reached Kafka. The collector remembers the ids it published
// recently so that a repeat — a sender's retry after a lost answer — is
// answered as one ({"accepted": n, "duplicates": m}) and not published
// again. What it does not remember (older than its memory, published by
// another collector) is published and dropped downstream, and answered as
// accepted.

// DedupConfig bounds the collector's memory of the ids it published.
type DedupConfig struct {
	// Window is how long a published id makes a repeat a duplicate, unless
	// the tenant sets its own (tenants file, dedup_window); 0 turns the
	// collector's part off.
	Window time.Duration
	// MaxIDs bounds the ids remembered, oldest forgotten first.
	MaxIDs int
	// Restore is how far back a starting collector reads the raw topic to
	// remember the ids published before it (by it or by a predecessor
	// killed before answering); /readyz fails until it has read them.
	Restore time.Duration
	// RestoreTimeout bounds that read; the collector is ready after it
	// whatever it read.
	RestoreTimeout time.Duration
}

// DefaultDedupConfig is the default of Config.Dedup.
func DefaultDedupConfig() DedupConfig {
	return DedupConfig{Window: 7 * 24 * time.Hour, MaxIDs: 1_000_000, Restore: 15 * time.Minute, RestoreTimeout: 30 * time.Second}
}

func (c *DedupConfig) registerFlags(fs *flag.FlagSet) {
	d := DefaultDedupConfig()
	flagenv.Duration(fs, &c.Window, "collector-dedup-window", d.Window,
		"how long a published event id makes a repeat a duplicate, unless the tenant sets dedup_window (0: off)")
	flagenv.Int(fs, &c.MaxIDs, "collector-dedup-max-ids", d.MaxIDs, "event ids the collector remembers, oldest forgotten first")
	flagenv.Duration(fs, &c.Restore, "collector-dedup-restore", d.Restore,
		"how far back a starting collector reads the raw topic for the ids published before it (0: none)")
	flagenv.Duration(fs, &c.RestoreTimeout, "collector-dedup-restore-timeout", d.RestoreTimeout,
		"bound on that read; ready afterwards with what was read")
}

func (c DedupConfig) validate() error {
	switch {
	case c.Window < 0 || c.Window > tenants.MaxDedupWindow:
		return fmt.Errorf("collector-dedup-window: %s, must be between 0 (off) and %s", c.Window, tenants.MaxDedupWindow)
	case c.MaxIDs < 1:
		return errors.New("collector-dedup-max-ids: must be at least 1")
	case c.Restore < 0:
		return errors.New("collector-dedup-restore: must not be negative")
	case c.RestoreTimeout <= 0:
		return errors.New("collector-dedup-restore-timeout: must be positive")
	}
	return nil
}

// recentIDs are the event ids published lately, by "tenant/account\x00id",
// with when they were published (Unix ms), forgotten oldest first.
type recentIDs struct {
	mu    sync.Mutex
	at    map[string]int64
	order []string // keys in the order remembered; a ring from head
	head  int
	max   int
	ready atomic.Bool

	duplicates metric.Int64Counter
}

func newRecentIDs(max int, meter metric.Meter) (*recentIDs, error) {
	dup, err := meter.Int64Counter("collector.duplicates",
		metric.WithDescription("Events not published because they repeat an event id published within the window, by source."),
		metric.WithUnit("{event}"))
	if err != nil {
		return nil, err
	}
	r := &recentIDs{at: map[string]int64{}, max: max, duplicates: dup}
	r.ready.Store(true) // until a restore begins
	return r, nil
}

func idKey(e *event.Envelope) string { return e.Tenant + "/" + e.Account + "\x00" + e.ID }

// dedupWindow is the tenant's window.
func (c *Collector) dedupWindow(tenant string) time.Duration {
	if w, ok := c.deps.Tenants.DedupWindow(tenant); ok {
		return w
	}
	return c.cfg.Dedup.Window
}

// fresh returns the envelopes whose ids were not published within their
// tenant's window, each id once, their keys for remember, and how many were
// left out as repeats. It keeps the order; envs is reused.
func (c *Collector) fresh(envs []event.Envelope, source string, now time.Time) ([]event.Envelope, []string, int) {
	r := c.ids
	out := envs[:0]
	keys := make([]string, 0, len(envs))
	var inBatch map[string]bool
	if len(envs) > 1 {
		inBatch = make(map[string]bool, len(envs))
	}
	r.mu.Lock()
	for _, e := range envs {
		w := c.dedupWindow(e.Tenant)
		k := idKey(&e)
		if w > 0 {
			if ms, ok := r.at[k]; ok && ms >= now.Add(-w).UnixMilli() {
				continue
			}
			if inBatch[k] {
				continue
			}
		}
		if inBatch != nil {
			inBatch[k] = true
		}
		out = append(out, e)
		keys = append(keys, k)
	}
	r.mu.Unlock()
	dups := len(envs) - len(out)
	if dups > 0 {
		r.duplicates.Add(context.Background(), int64(dups), metric.WithAttributeSet(attribute.NewSet(attribute.String("source", source))))
	}
	return out, keys, dups
}

// remember records the keys fresh gave of envelopes Kafka acknowledged.
func (c *Collector) remember(keys []string, now time.Time) {
	if c.cfg.Dedup.Window <= 0 && c.deps.Tenants == nil {
		return
	}
	ms := now.UnixMilli()
	c.ids.mu.Lock()
	defer c.ids.mu.Unlock()
	for _, k := range keys {
		c.ids.put(k, ms)
	}
}

// put remembers k; the caller holds mu.
func (r *recentIDs) put(k string, ms int64) {
	if _, ok := r.at[k]; ok {
		r.at[k] = max(r.at[k], ms)
		return
	}
	r.at[k] = ms
	if len(r.order) < r.max {
		r.order = append(r.order, k)
		return
	}
	delete(r.at, r.order[r.head]) // forget the oldest
	r.order[r.head] = k
	r.head = (r.head + 1) % r.max
}

// len is how many ids are remembered.
func (r *recentIDs) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

// idsRestoring is the readiness check of the restore.
func (c *Collector) idsRestoring(context.Context) error {
	if !c.ids.ready.Load() {
		return errors.New("restoring recent event ids")
	}
	return nil
}

// restoreIDs reads the raw topic from cfg.Dedup.Restore ago to the end it
// had when the read began and remembers every envelope's id: a batch that
// reached Kafka while its answer was lost to a crash is then answered as a
// duplicate when the sender retries. It is bounded by RestoreTimeout.
func (c *Collector) restoreIDs(ctx context.Context) {
	d := c.cfg.Dedup
	if d.Window <= 0 && c.deps.Tenants == nil || d.Restore <= 0 {
		return
	}
	c.ids.ready.Store(false)
	defer c.ids.ready.Store(true)
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, d.RestoreTimeout)
	defer cancel()
	n, err := c.readRecentIDs(rctx, start.Add(-d.Restore))
	ev := c.log.Info()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		ev = c.log.Warn().Err(err)
	}
	ev.Str("topic", kafka.TopicRaw).Int64("records", n).Int("ids", c.ids.len()).Dur("took", time.Since(start)).
		Msg("recent event ids restored")
}

func (c *Collector) readRecentIDs(ctx context.Context, since time.Time) (int64, error) {
	win, err := topicwindow.List(ctx, c.deps.Producer, kafka.TopicRaw, since)
	if err != nil {
		return 0, err
	}
	assign, left := win.Reads()
	if len(assign) == 0 {
		return 0, nil
	}
	cl, err := kgo.NewClient(c.readerOpts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafka.TopicRaw: assign}),
		kgo.KeepControlRecords(), // a transaction marker is an offset, too
	)...)
	if err != nil {
		return 0, fmt.Errorf("creating event id reader: %w", err)
	}
	defer cl.Close()
	var n int64
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("reading %s: %w", kafka.TopicRaw, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", t, p, err)) })
		if ferr != nil {
			return n, fmt.Errorf("reading event ids: %w", ferr)
		}
		c.ids.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				n++
				if id, ok := event.PeekID(r.Value); ok {
					c.ids.put(string(r.Key)+"\x00"+id, r.Timestamp.UnixMilli())
				} else if e, err := event.DecodeFast(r.Value); err == nil {
					c.ids.put(idKey(&e), r.Timestamp.UnixMilli())
				}
			}
			if r.Offset == end-1 {
				delete(left, r.Partition)
				cl.PauseFetchPartitions(map[string][]int32{kafka.TopicRaw: {r.Partition}})
			}
		})
		c.ids.mu.Unlock()
	}
	return n, nil
}

// dedupReply is the answer of the events API.
type dedupReply struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}
