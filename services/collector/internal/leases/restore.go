package leases

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/topicwindow"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// leaseRestoreMargin is read before the longest lease time, for clocks that
// differ: a record is stamped by the clock of the collector that made the
// lease (or of the broker, with LogAppendTime), the window by this one's.
const leaseRestoreMargin = time.Minute

// leaseMarker is in every number_lease record as the collector encodes
// envelopes (encodeJSON, no spaces): records without it are not decoded —
// most of the raw topic, when a restore falls back to it.
var leaseMarker = []byte(`"type":"` + event.TypeNumberLease + `"`)

// Outcomes of a lease restore.
const (
	restoreComplete = "complete"
	restoreTimeout  = "timeout"
	restoreFailed   = "failed"
)

type restoreMetrics struct {
	duration metric.Float64Histogram
	leases   metric.Int64Counter
}

func newRestoreMetrics(m metric.Meter) (*restoreMetrics, error) {
	var out restoreMetrics
	var err1, err2 error
	out.duration, err1 = m.Float64Histogram("throughline.collector.number_leases.restore_duration",
		metric.WithDescription("time a starting collector took to read the number leases back from Kafka, by outcome "+
			"(complete, timeout, failed: /v1/numbers served with the leases read so far)"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
	out.leases, err2 = m.Int64Counter("throughline.collector.number_leases.restored",
		metric.WithDescription("number leases still running that a starting collector read back from Kafka"))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("creating lease restore metrics: %w", err)
	}
	return &out, nil
}

// RestoreLeases rebuilds the number pools' lease tables from the leases
// published within the longest lease time, so that leases outlive the
// process: a number still shown on a visitor's page is not handed to another
// visitor after a restart. Until it returns GET /v1/numbers answers 503 and
// /readyz is not ready. It reads for at most cfg.LeaseRestoreTimeout (or
// until ctx ends), then serves with what it read. It reads kafka.TopicNumbers,
// and kafka.TopicRaw as well while the former holds no lease from before the
// window (it is newer than that: an upgrade from collectors that did not
// write it).
//
// RestoreLeases does not follow the other collectors' leases afterwards:
// RunLeases does. Serve runs RunLeases while it serves; callers that serve
// Handler themselves run RunLeases (or RestoreLeases, for a collector alone)
// before or while they do, or their leases start empty. Only the first of
// RestoreLeases, RunLeases and Serve's reads.
func (s *Leases) Restore(ctx context.Context) {
	if run := s.Begin(); run != nil {
		run(ctx, false)
	}
}

// RunLeases restores the lease tables as RestoreLeases does, then applies
// the leases the other collectors publish to kafka.TopicNumbers as they come
// until ctx ends — past the restore timeout it goes on reading where the
// restore stopped. Collectors serving the same pools so lease from the same
// table, Kafka's latency behind each other.
func (s *Leases) Run(ctx context.Context) {
	if run := s.Begin(); run != nil {
		run(ctx, true)
	}
}

// Begin marks the lease tables as being restored and returns the
// restore to run (following afterwards or not), or nil if one has begun.
func (s *Leases) Begin() func(ctx context.Context, follow bool) {
	var run func(context.Context, bool)
	s.restoreOnce.Do(func() {
		s.ready.Store(false)
		run = func(ctx context.Context, follow bool) {
			defer s.ready.Store(true)
			s.runLeases(ctx, follow)
		}
	})
	return run
}

// Restoring is the readiness check of the lease tables.
func (s *Leases) Restoring(context.Context) error {
	if !s.ready.Load() {
		return errors.New("restoring number leases")
	}
	return nil
}

func (s *Leases) runLeases(ctx context.Context, follow bool) {
	if s.pools.Len() == 0 {
		return
	}
	start := time.Now()
	since := start.Add(-s.pools.MaxLease() - leaseRestoreMargin)
	f, err := s.newLeaseFollower(since)
	if err != nil {
		s.deps.Log.Error().Err(err).Msg("number leases not restored")
		return
	}
	defer f.close()
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RestoreTimeout)
	st, err := s.readLeases(rctx, f, since)
	cancel()
	took := time.Since(start)
	live := s.pools.Live(time.Now())
	outcome := restoreComplete
	switch {
	case err == nil:
	case ctx.Err() != nil:
		s.deps.Log.Info().Int("leases", live).Msg("number lease restore stopped: shutting down")
		return
	case errors.Is(err, context.DeadlineExceeded):
		outcome = restoreTimeout
	default:
		outcome = restoreFailed
	}
	s.rm.duration.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
	s.rm.leases.Add(ctx, int64(live))
	ev := s.deps.Log.Info()
	if err != nil {
		ev = s.deps.Log.Warn().Err(err).Dur("timeout", s.cfg.RestoreTimeout)
	}
	if st.fallback {
		ev = ev.Str("fallback_topic", kafka.TopicRaw).Int64("fallback_records", st.rawRecords)
	}
	ev.Str("topic", kafka.TopicNumbers).Int("partitions", st.partitions).Int64("records", st.records).
		Int64("lease_events", st.events).Int64("unknown_numbers", st.unknown).Int("leases", live).
		Dur("took", took).Str("outcome", outcome).Msg("number leases restored")
	if follow {
		s.ready.Store(true)
		s.followLeases(ctx, f)
	}
}

// restoreStats are what a restore read.
type restoreStats struct {
	partitions int   // partitions of TopicNumbers with leases of the window
	records    int64 // records of TopicNumbers read
	events     int64 // number_lease events read, of both topics
	unknown    int64 // leases of numbers (or accounts) no longer in a pool
	fallback   bool  // TopicRaw was read too
	rawRecords int64 // records of TopicRaw read
}

// readLeases reads TopicNumbers with f from since to the end offsets it had
// when the read began, every partition, and restores the leases it finds —
// and TopicRaw the same way when TopicNumbers has no record older than since.
// Nothing leases meanwhile, so those ends hold every lease this collector
// made. Neither topic is written with transactions: every offset below the
// end is a record to read.
func (s *Leases) readLeases(ctx context.Context, f *leaseFollower, since time.Time) (restoreStats, error) {
	var st restoreStats
	win, err := topicwindow.List(ctx, s.deps.Producer, kafka.TopicNumbers, since)
	if err != nil {
		return st, err
	}
	adm := kadm.NewClient(s.deps.Producer)
	firsts, err := adm.ListStartOffsets(ctx, kafka.TopicNumbers)
	if err == nil {
		err = firsts.Error()
	}
	if err != nil {
		return st, fmt.Errorf("listing %s start offsets: %w", kafka.TopicNumbers, err)
	}
	// Leases older than the window mean the topic was written for all of it.
	st.fallback = true
	firsts.Each(func(o kadm.ListedOffset) {
		if start, ok := win.Start(o.Partition); ok && o.Offset < start {
			st.fallback = false
		}
	})
	_, left := win.Reads() // partition → end offset, until read
	st.partitions = len(left)
	for len(left) > 0 {
		fs := f.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("reading %s: %w", kafka.TopicNumbers, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", t, p, err)) })
		if ferr != nil {
			return st, fmt.Errorf("reading leases: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				st.records++
			}
			s.applyLease(r, &st) // later records too: they are just as true
			if end, ok := left[r.Partition]; ok && r.Offset >= end-1 {
				delete(left, r.Partition)
			}
		})
	}
	if st.fallback {
		return st, s.readRawLeases(ctx, since, &st)
	}
	return st, nil
}

// readRawLeases reads the number_lease events of TopicRaw from since to its
// end offsets, as collectors wrote them before TopicNumbers existed.
func (s *Leases) readRawLeases(ctx context.Context, since time.Time, st *restoreStats) error {
	win, err := topicwindow.List(ctx, s.deps.Producer, kafka.TopicRaw, since)
	if err != nil {
		return err
	}
	assign, left := win.Reads()
	if len(assign) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(s.deps.ReaderOpts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafka.TopicRaw: assign}),
		kgo.KeepControlRecords(), // a transaction marker is an offset, too
	)...)
	if err != nil {
		return fmt.Errorf("creating lease reader: %w", err)
	}
	defer cl.Close()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", kafka.TopicRaw, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", t, p, err)) })
		if ferr != nil {
			return fmt.Errorf("reading leases: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				st.rawRecords++
				s.applyLease(r, st)
			}
			if r.Offset == end-1 {
				delete(left, r.Partition)
				cl.PauseFetchPartitions(map[string][]int32{kafka.TopicRaw: {r.Partition}})
			}
		})
	}
	return nil
}
