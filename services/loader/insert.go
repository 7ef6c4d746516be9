package loader

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/kafka"
)

// insert sends the batch's rows with its token, retrying with backoff until
// ClickHouse accepts them or ctx ends (or once, at shutdown).
func (l *Loader) insert(ctx context.Context, b *batch, final bool) error {
	s := b.part.sink
	rt := l.newRetrier(final, "inserting batch")
	for {
		if b.ins == nil {
			var err error
			b.ins, _, _, _, err = l.prepare(ctx, b)
			if err != nil {
				b.ins = nil
				if err := rt.wait(ctx, fmt.Errorf("preparing insert into %s: %w", s.Table, err), b.logCtx); err != nil {
					return err
				}
				continue
			}
		}
		ins := b.ins
		b.ins = nil // a batch is sent at most once; a retry prepares again
		_, span := l.deps.Tel.Tracer.Start(ctx, "loader insert", trace.WithLinks(b.links...),
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("messaging.destination.name", s.Topic),
				attribute.Int("messaging.destination.partition.id", int(b.part.partition)),
				attribute.String("db.collection.name", s.Table), attribute.Int("db.rows", b.rows),
				attribute.Int64("first_offset", b.rng.first), attribute.Int64("last_offset", b.rng.last)))
		start := time.Now()
		err := ins.Send(ctx)
		took := time.Since(start)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "insert failed")
		}
		span.End()
		if err == nil {
			l.met.inserted(s.Table, b.rows, took, b.received)
			return nil
		}
		l.met.insertRetries.Add(context.Background(), 1, l.met.tableAttr(s.Table))
		if err := rt.wait(ctx, err, b.logCtx); err != nil {
			return err
		}
	}
}

// traceLinks links the insert span to the traces the records carry.
func traceLinks(recs []*kgo.Record) []trace.Link {
	var links []trace.Link
	for _, rec := range recs[:min(len(recs), maxLinks)] {
		if len(rec.Headers) == 0 {
			continue
		}
		sc := trace.SpanContextFromContext(kafka.ExtractTrace(context.Background(), rec))
		if sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return links
}

// retrier paces the retries of one write: exponential backoff with jitter,
// no retry at shutdown, and none once ctx ends.
type retrier struct {
	l      *Loader
	final  bool
	action string
	delay  time.Duration
	tries  int
}

func (l *Loader) newRetrier(final bool, action string) *retrier {
	return &retrier{l: l, final: final, action: action, delay: l.cfg.RetryMin}
}

// wait returns nil after sleeping when err should be retried, or err wrapped
// with the action when it should not.
func (r *retrier) wait(ctx context.Context, err error, fields func(*zerolog.Event) *zerolog.Event) error {
	r.tries++
	if r.final || ctx.Err() != nil {
		return fmt.Errorf("%s: %w", r.action, err)
	}
	d := r.delay/2 + rand.N(r.delay/2+1)
	ev := r.l.log.Warn().Err(err).Str("action", r.action).Int("attempt", r.tries).Dur("backoff", d)
	if fields != nil {
		ev = fields(ev)
	}
	ev.Msg("write failed, retrying")
	r.delay = min(r.delay*2, r.l.cfg.RetryMax)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", r.action, err)
	case <-t.C:
		return nil
	}
}

// parallel runs fn on every batch, at most Workers at a time.
func (l *Loader) parallel(batches []*batch, fn func(*batch)) {
	if len(batches) == 1 || l.cfg.Workers == 1 {
		for _, b := range batches {
			fn(b)
		}
		return
	}
	sem := make(chan struct{}, l.cfg.Workers)
	var wg sync.WaitGroup
	for _, b := range batches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(b)
		})
	}
	wg.Wait()
}

// commit commits the offsets of everything loaded and not yet committed. A
// failed commit is not retried here: the offsets stay due and go with the
// next commit, and until then the recorded ranges make a reload harmless.
func (l *Loader) commit(ctx context.Context) {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	l.mu.Lock()
	for k, p := range l.parts {
		if p.next > p.committed {
			if offsets[k.topic] == nil {
				offsets[k.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[k.topic][k.partition] = kgo.EpochOffset{Epoch: p.epoch, Offset: p.next}
		}
	}
	l.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	l.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			l.met.commitFailures.Add(context.Background(), 1)
			l.log.Warn().Err(err).Msg("committing offsets failed")
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					l.met.commitFailures.Add(context.Background(), 1)
					l.log.Warn().Err(err).Str("topic", t.Topic).Int32("partition", rp.Partition).Msg("committing offset failed")
					continue
				}
				if p := l.parts[tp{t.Topic, rp.Partition}]; p != nil {
					p.committed = offsets[t.Topic][rp.Partition].Offset
				}
			}
		}
	})
}

// recordedRanges reads the ranges recorded for the partition from offset on:
// batches that were recorded (and maybe inserted) but not committed.
func (l *Loader) recordedRanges(ctx context.Context, p *partState, from int64) ([]offsetRange, error) {
	q := "SELECT first_offset, max(last_offset) FROM " + chstore.QuoteIdent(l.cfg.Database) + `.loader_batches
		WHERE consumer = {consumer:String} AND topic = {topic:String} AND partition = {partition:UInt32}
		AND last_offset >= {from:UInt64} GROUP BY first_offset ORDER BY first_offset`
	params := chstore.Params{"consumer": l.cfg.Group, "topic": p.sink.Topic,
		"partition": strconv.Itoa(int(p.partition)), "from": strconv.FormatInt(from, 10)}
	rt := l.newRetrier(false, "reading recorded batch ranges")
	for {
		res, err := l.deps.Store.Query(ctx, q, params)
		if err == nil {
			return parseRanges(res, l.log.With().Str("topic", p.sink.Topic).Int32("partition", p.partition).Logger())
		}
		if err := rt.wait(ctx, err, nil); err != nil {
			return nil, err
		}
	}
}

// parseRanges keeps the ranges in order and drops any that overlaps the one
// before it (only a member fenced out of the group while writing could have
// recorded such a range).
func parseRanges(res *chstore.Result, log zerolog.Logger) ([]offsetRange, error) {
	var out []offsetRange
	for _, row := range res.Rows {
		first, err1 := strconv.ParseInt(fmt.Sprint(row[0]), 10, 64)
		last, err2 := strconv.ParseInt(fmt.Sprint(row[1]), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("reading recorded batch ranges: bad row %v", row)
		}
		if n := len(out); n > 0 && first <= out[n-1].last {
			log.Warn().Int64("first_offset", first).Int64("last_offset", last).Msg("ignoring overlapping recorded range")
			continue
		}
		out = append(out, offsetRange{first, last})
	}
	return out, nil
}
