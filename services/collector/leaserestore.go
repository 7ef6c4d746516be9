package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/numbers"
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
// envelopes (encodeJSON, no spaces): records without it are not decoded.
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

// RestoreLeases rebuilds the number pools' lease tables from the number_lease
// events published within the longest lease time, so that leases outlive the
// process: a number still shown on a visitor's page is not handed to another
// visitor after a restart. Until it returns GET /v1/numbers answers 503 and
// /readyz is not ready. It reads for at most cfg.LeaseRestoreTimeout (or
// until ctx ends), then serves with what it read.
//
// Serve restores while it serves; callers that serve Handler themselves
// call RestoreLeases before or while they do, or their leases start empty.
// Only the first restore (RestoreLeases or Serve's) reads.
func (c *Collector) RestoreLeases(ctx context.Context) {
	if run := c.beginRestore(); run != nil {
		run(ctx)
	}
}

// beginRestore marks the lease tables as being restored and returns the
// restore to run, or nil if one has begun already.
func (c *Collector) beginRestore() func(context.Context) {
	var run func(context.Context)
	c.restoreOnce.Do(func() {
		c.leasesReady.Store(false)
		run = func(ctx context.Context) {
			defer c.leasesReady.Store(true)
			c.restoreLeases(ctx)
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

func (c *Collector) restoreLeases(ctx context.Context) {
	if c.pools.Len() == 0 {
		return
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.LeaseRestoreTimeout)
	defer cancel()
	st, err := c.readLeases(rctx, start.Add(-c.pools.MaxLease()-leaseRestoreMargin))
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
	ev.Str("topic", kafka.TopicRaw).Int("partitions", st.partitions).Int64("records", st.records).
		Int64("lease_events", st.events).Int64("unknown_numbers", st.unknown).Int("leases", live).
		Dur("took", took).Str("outcome", outcome).Msg("number leases restored")
}

// restoreStats are what a restore read.
type restoreStats struct {
	partitions int
	records    int64 // records read
	events     int64 // number_lease events among them
	unknown    int64 // leases of numbers (or accounts) no longer in a pool
}

// readLeases reads the raw topic from since to the end offsets it had when
// the read began, every partition, and restores the leases it finds. Nothing
// leases meanwhile, so those ends hold every lease this collector made.
// The raw topic is written without transactions: every offset below the end
// is a record to read.
func (c *Collector) readLeases(ctx context.Context, since time.Time) (restoreStats, error) {
	var st restoreStats
	adm := kadm.NewClient(c.deps.Producer)
	ends, err := adm.ListEndOffsets(ctx, kafka.TopicRaw)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return st, fmt.Errorf("listing %s end offsets: %w", kafka.TopicRaw, err)
	}
	starts, err := adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), kafka.TopicRaw)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return st, fmt.Errorf("listing %s offsets after %v: %w", kafka.TopicRaw, since, err)
	}
	assign := map[int32]kgo.Offset{}
	left := map[int32]int64{} // partition → end offset, until read
	starts.Each(func(o kadm.ListedOffset) {
		if end, ok := ends.Lookup(kafka.TopicRaw, o.Partition); ok && o.Offset < end.Offset {
			assign[o.Partition] = kgo.NewOffset().At(o.Offset)
			left[o.Partition] = end.Offset
		}
	})
	st.partitions = len(assign)
	if len(assign) == 0 {
		return st, nil
	}
	// The producer's options reach the same cluster the same way (brokers,
	// TLS, SASL, logger).
	cl, err := kgo.NewClient(append(c.deps.Producer.Opts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafka.TopicRaw: assign}),
		kgo.KeepControlRecords(), // a transaction marker is an offset, too
	)...)
	if err != nil {
		return st, fmt.Errorf("creating lease reader: %w", err)
	}
	defer cl.Close()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("reading %s: %w", kafka.TopicRaw, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", t, p, err)) })
		if ferr != nil {
			return st, fmt.Errorf("reading leases: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				st.records++
				c.restoreLease(r.Value, &st)
			}
			if r.Offset == end-1 {
				delete(left, r.Partition)
				cl.PauseFetchPartitions(map[string][]int32{kafka.TopicRaw: {r.Partition}})
			}
		})
	}
	return st, nil
}

// restoreLease restores the lease a raw record holds, if it holds one. Only
// the collector's own leases count: the events API cannot write a lease.
func (c *Collector) restoreLease(v []byte, st *restoreStats) {
	if !bytes.Contains(v, leaseMarker) {
		return
	}
	e, err := event.Decode(v)
	if err != nil || e.Type != event.TypeNumberLease || e.Source != sourceNumbers || e.Lease == nil || e.ClientID == "" {
		return
	}
	st.events++
	pool := c.pools.For(e.Tenant, e.Account)
	l := numbers.Lease{Number: e.Lease.Number, From: time.UnixMilli(e.Lease.From), To: time.UnixMilli(e.Lease.To)}
	if pool == nil || !pool.Restore(e.ClientID, l) {
		st.unknown++
	}
}
