package leases

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/numbers"
	"github.com/throughline/throughline/services/collector/internal/publish"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Collectors share their number leases through kafka.TopicNumbers: each
// publishes every lease it makes there (besides the raw topic) and follows
// the topic, applying the others' leases to its own tables, so collectors
// serving one pool lease from what amounts to one table, Kafka's latency
// behind. Two collectors leasing the same free number within that latency
// both hand it out; numbers.Pool.Apply makes every collector keep the same
// one of the two leases, and the other visitor moves to another number the
// next time it asks (docs/tracker.md, "More than one collector").

// HeaderInstance names the collector process that made a lease, on its
// TopicNumbers record: a collector skips its own.
const HeaderInstance = "throughline-collector"

// Outcomes of a lease published to TopicNumbers.
const (
	announcePublished = "published"
	announceFailed    = "failed"
	announceDropped   = "dropped_overload"
)

// followRetry is how long the follower waits after a failed fetch.
const followRetry = time.Second

type followMetrics struct {
	announced metric.Int64Counter
	peers     metric.Int64Counter
	conflicts metric.Int64Counter
	errors    metric.Int64Counter
	delay     metric.Float64Histogram

	mu  sync.Mutex
	lag map[int32]int64 // partition → records behind its high watermark
}

func newFollowMetrics(m metric.Meter) (*followMetrics, error) {
	out := followMetrics{lag: map[int32]int64{}}
	var errs [6]error
	out.announced, errs[0] = m.Int64Counter("throughline.collector.number_leases.announced",
		metric.WithDescription("number leases this collector published to "+kafka.TopicNumbers+" for the others, by outcome "+
			"(published, failed, dropped_overload: the others do not learn of the lease until it is extended)"))
	out.peers, errs[1] = m.Int64Counter("throughline.collector.number_leases.from_peers",
		metric.WithDescription("number leases of other collectors applied to this one's tables, by result "+
			"(taken, stale: a later lease holds the number, conflict: it displaced an overlapping lease, unknown: not in a pool here)"))
	out.conflicts, errs[2] = m.Int64Counter("throughline.collector.number_leases.conflicts",
		metric.WithDescription("leases of another collector that displaced an overlapping lease of the same number made here: "+
			"two collectors leased one free number at about the same time"))
	out.errors, errs[3] = m.Int64Counter("throughline.collector.number_leases.follow_errors",
		metric.WithDescription("failed fetches of "+kafka.TopicNumbers+" while following the other collectors' leases"))
	out.delay, errs[4] = m.Float64Histogram("throughline.collector.number_leases.follow_delay",
		metric.WithDescription("from the record time of another collector's lease to when this one applied it "+
			"(includes the difference of their clocks)"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	lag, err := m.Int64ObservableGauge("throughline.collector.number_leases.follow_lag",
		metric.WithDescription("records of "+kafka.TopicNumbers+" not yet applied, as of the last fetch"))
	errs[5] = err
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("creating lease follow metrics: %w", err)
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(lag, out.totalLag())
		return nil
	}, lag)
	if err != nil {
		return nil, fmt.Errorf("registering lease follow lag: %w", err)
	}
	for _, oc := range []string{announcePublished, announceFailed} {
		out.announced.Add(context.Background(), 0, metric.WithAttributes(attribute.String("outcome", oc)))
	}
	out.errors.Add(context.Background(), 0)
	return &out, nil
}

func (m *followMetrics) setLag(partition int32, n int64) {
	m.mu.Lock()
	m.lag[partition] = max(n, 0)
	m.mu.Unlock()
}

func (m *followMetrics) totalLag() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, l := range m.lag {
		n += l
	}
	return n
}

// announceLease publishes a lease, as the raw record that holds it, to
// TopicNumbers for the other collectors. The reply does not wait for it —
// it waits for the raw topic, the record of the lease — and a failure only
// keeps the others from learning of the lease (until it is extended): it is
// logged and counted.
func (s *Leases) announceLease(ctx context.Context, raw *kgo.Record, p tenants.Principal) {
	rec := &kgo.Record{Topic: kafka.TopicNumbers, Key: raw.Key, Value: raw.Value,
		Headers: []kgo.RecordHeader{{Key: HeaderInstance, Value: s.instance}}}
	failed := func(err error) {
		s.deps.Warn.Warn().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Str("topic", kafka.TopicNumbers).
			Msg("number lease not announced to the other collectors")
		s.fm.announced.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", announceFailed)))
	}
	_, err := s.deps.Pub.Start(ctx, []*kgo.Record{rec}, func(err error) {
		if err != nil {
			failed(err)
			return
		}
		s.fm.announced.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", announcePublished)))
	})
	switch {
	case errors.Is(err, publish.ErrOverloaded):
		s.fm.announced.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", announceDropped)))
		s.deps.Warn.Warn().Str("tenant", p.Tenant).Str("account", p.Account).Str("topic", kafka.TopicNumbers).
			Msg("number lease not announced to the other collectors: collector at capacity")
	case err != nil:
		failed(err)
	}
}

// leaseFollower reads TopicNumbers, every partition, without a group, from
// the start of the restore window onward: first as the start-up restore,
// then as the other collectors publish.
type leaseFollower struct {
	cl *kgo.Client
}

func (s *Leases) newLeaseFollower(since time.Time) (*leaseFollower, error) {
	// The producer's options reach the same cluster the same way (brokers,
	// TLS, SASL, logger).
	cl, err := kgo.NewClient(s.deps.ReaderOpts(
		kgo.ConsumeTopics(kafka.TopicNumbers),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(since.UnixMilli())),
		kgo.KeepControlRecords(), // offsets count to the restore's end offsets
	)...)
	if err != nil {
		return nil, fmt.Errorf("creating lease follower: %w", err)
	}
	return &leaseFollower{cl: cl}, nil
}

func (f *leaseFollower) close() { f.cl.Close() }

// followLeases applies the leases other collectors publish until ctx ends.
func (s *Leases) followLeases(ctx context.Context, f *leaseFollower) {
	s.deps.Log.Info().Str("topic", kafka.TopicNumbers).Msg("following the number leases of the other collectors")
	defer s.deps.Log.Info().Str("topic", kafka.TopicNumbers).Msg("stopped following number leases")
	for {
		fs := f.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		failed := false
		fs.EachError(func(t string, p int32, err error) {
			failed = true
			s.fm.errors.Add(ctx, 1)
			s.deps.Warn.Warn().Err(err).Str("topic", t).Int32("partition", p).Msg("following number leases: fetch failed")
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				s.fm.setLag(p.Partition, p.HighWatermark-p.Records[n-1].Offset-1)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { s.applyLease(r, nil) })
		if failed {
			select {
			case <-ctx.Done():
				return
			case <-time.After(followRetry):
			}
		}
	}
}

// applyLease applies the lease a record of TopicNumbers or TopicRaw holds, if
// it holds one. With st it is read back at start and counted in st;
// without, it is another collector's, just published.
func (s *Leases) applyLease(r *kgo.Record, st *restoreStats) {
	if r.Attrs.IsControl() || !bytes.Contains(r.Value, leaseMarker) {
		return
	}
	for _, h := range r.Headers {
		if h.Key == HeaderInstance && bytes.Equal(h.Value, s.instance) {
			return // our own: the table has it
		}
	}
	e, err := event.Decode(r.Value)
	// Only the collector's own leases count: the events API cannot write a lease.
	if err != nil || e.Type != event.TypeNumberLease || e.Source != Source || e.Lease == nil || e.ClientID == "" {
		return
	}
	l := numbers.Lease{Number: e.Lease.Number, From: time.UnixMilli(e.Lease.From), To: time.UnixMilli(e.Lease.To), Shared: e.Lease.Shared}
	got := numbers.Unknown
	if pool := s.pools.For(e.Tenant, e.Account); pool != nil {
		got = pool.Apply(e.ClientID, l)
	}
	if st != nil {
		st.events++
		if got == numbers.Unknown {
			st.unknown++
		}
		return
	}
	ctx := context.Background()
	s.fm.delay.Record(ctx, max(time.Since(r.Timestamp), 0).Seconds())
	if got == numbers.Conflict {
		s.deps.Warn.Warn().Str("tenant", e.Tenant).Str("account", e.Account).Str("number", l.Number).
			Msg("number leased by two collectors at once, the later lease keeps it")
		s.fm.conflicts.Add(ctx, 1, metric.WithAttributes(attribute.String("tenant", e.Tenant), attribute.String("account", e.Account)))
	}
	s.fm.peers.Add(ctx, 1, metric.WithAttributes(attribute.String("result", appliedLabel(got)))) // last: tests wait for it
}

func appliedLabel(a numbers.Applied) string {
	switch a {
	case numbers.Stale:
		return "stale"
	case numbers.Taken:
		return "taken"
	case numbers.Conflict:
		return "conflict"
	default:
		return "unknown"
	}
}
