package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
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
func (c *Collector) RestoreLeases(ctx context.Context) {
	if run := c.beginRestore(); run != nil {
		run(ctx, false)
	}
}

// RunLeases restores the lease tables as RestoreLeases does, then applies
// the leases the other collectors publish to kafka.TopicNumbers as they come
// until ctx ends — past the restore timeout it goes on reading where the
// restore stopped. Collectors serving the same pools so lease from the same
// table, Kafka's latency behind each other.
func (c *Collector) RunLeases(ctx context.Context) {
	if run := c.beginRestore(); run != nil {
		run(ctx, true)
	}
}

// beginRestore marks the lease tables as being restored and returns the
// restore to run (following afterwards or not), or nil if one has begun.
func (c *Collector) beginRestore() func(ctx context.Context, follow bool) {
	var run func(context.Context, bool)
	c.restoreOnce.Do(func() {
		c.leasesReady.Store(false)
		run = func(ctx context.Context, follow bool) {
			defer c.leasesReady.Store(true)
			c.runLeases(ctx, follow)
		}
	})
	return run
}

// leasesRestoring is the readiness check of the lease tables.
func (c *Collector) leasesRestoring(context.Context) error {
	if !c.leasesReady.Load() {
		return errors.New("restoring number leases")
	}
	return nil
}

func (c *Collector) runLeases(ctx context.Context, follow bool) {
	if c.pools.Len() == 0 {
		return
	}
	start := time.Now()
	since := start.Add(-c.pools.MaxLease() - leaseRestoreMargin)
	f, err := c.newLeaseFollower(since)
	if err != nil {
		c.log.Error().Err(err).Msg("number leases not restored")
		return
	}
	defer f.close()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.LeaseRestoreTimeout)
	st, err := c.readLeases(rctx, f, since)
	cancel()
	took := time.Since(start)
	live := c.pools.Live(time.Now())
	outcome := restoreComplete
	switch {
	case err == nil:
	case ctx.Err() != nil:
		c.log.Info().Int("leases", live).Msg("number lease restore stopped: shutting down")
		return
	case errors.Is(err, context.DeadlineExceeded):
		outcome = restoreTimeout
	default:
		outcome = restoreFailed
	}
	c.rm.duration.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
	c.rm.leases.Add(ctx, int64(live))
	ev := c.log.Info()
	if err != nil {
		ev = c.log.Warn().Err(err).Dur("timeout", c.cfg.LeaseRestoreTimeout)
	}
	if st.fallback {
		ev = ev.Str("fallback_topic", kafka.TopicRaw).Int64("fallback_records", st.rawRecords)
	}
	ev.Str("topic", kafka.TopicNumbers).Int("partitions", st.partitions).Int64("records", st.records).
		Int64("lease_events", st.events).Int64("unknown_numbers", st.unknown).Int("leases", live).
		Dur("took", took).Str("outcome", outcome).Msg("number leases restored")
	if follow {
		c.leasesReady.Store(true)
		c.followLeases(ctx, f)
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
func (c *Collector) readLeases(ctx context.Context, f *leaseFollower, since time.Time) (restoreStats, error) {
	var st restoreStats
	ends, starts, err := c.listWindow(ctx, kafka.TopicNumbers, since)
	if err != nil {
		return st, err
	}
	adm := kadm.NewClient(c.deps.Producer)
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
		if s, ok := starts.Lookup(kafka.TopicNumbers, o.Partition); ok && o.Offset < s.Offset {
			st.fallback = false
		}
	})
	left := map[int32]int64{} // partition → end offset, until read
	for p, off := range windowOffsets(kafka.TopicNumbers, ends, starts) {
		left[p] = off.end
	}
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
			c.applyLease(r, &st) // later records too: they are just as true
			if end, ok := left[r.Partition]; ok && r.Offset >= end-1 {
				delete(left, r.Partition)
			}
		})
	}
	if st.fallback {
		return st, c.readRawLeases(ctx, since, &st)
	}
	return st, nil
}

// listWindow lists topic's end offsets and the first offsets at or after since.
func (c *Collector) listWindow(ctx context.Context, topic string, since time.Time) (ends, starts kadm.ListedOffsets, err error) {
	adm := kadm.NewClient(c.deps.Producer)
	ends, err = adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s end offsets: %w", topic, err)
	}
	starts, err = adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s offsets after %v: %w", topic, since, err)
	}
	return ends, starts, nil
}

type window struct{ start, end int64 }

// windowOffsets are the partitions of topic with records in the window.
func windowOffsets(topic string, ends, starts kadm.ListedOffsets) map[int32]window {
	out := map[int32]window{}
	starts.Each(func(o kadm.ListedOffset) {
		if end, ok := ends.Lookup(topic, o.Partition); ok && o.Offset < end.Offset {
			out[o.Partition] = window{start: o.Offset, end: end.Offset}
		}
	})
	return out
}

// readRawLeases reads the number_lease events of TopicRaw from since to its
// end offsets, as collectors wrote them before TopicNumbers existed.
func (c *Collector) readRawLeases(ctx context.Context, since time.Time, st *restoreStats) error {
	ends, starts, err := c.listWindow(ctx, kafka.TopicRaw, since)
	if err != nil {
		return err
	}
	assign := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	for p, w := range windowOffsets(kafka.TopicRaw, ends, starts) {
		assign[p] = kgo.NewOffset().At(w.start)
		left[p] = w.end
	}
	if len(assign) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(c.readerOpts(
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
				c.applyLease(r, st)
			}
			if r.Offset == end-1 {
				delete(left, r.Partition)
				cl.PauseFetchPartitions(map[string][]int32{kafka.TopicRaw: {r.Partition}})
			}
		})
	}
	return nil
}
