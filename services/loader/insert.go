package loader

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/kafka"
)

// round is the batches of one flush, inserted together and then committed.
type round struct {
	batches []*batch
	tables  []*tableFlush // the batches by table, made by stage
	final   bool
	done    chan struct{}
}

// inserter inserts staged rounds one at a time, in order, on its own
// goroutine, while the consume loop polls and stages the next round.
type inserter struct {
	rounds chan *round
	last   *round // the latest round handed over; used by the consume loop only
	exited chan struct{}
}

// startInserter starts the inserter. Retries stop when ctx ends; writes use
// wctx, which outlives ctx by the shutdown timeout.
func (l *Loader) startInserter(ctx, wctx context.Context) *inserter {
	in := &inserter{rounds: make(chan *round), exited: make(chan struct{})}
	go func() {
		defer close(in.exited)
		for r := range in.rounds {
			if !l.crashed.Load() {
				l.insertRound(ctx, wctx, r)
			}
			close(r.done)
		}
	}()
	return in
}

// hand gives a round to the inserter, waiting while it inserts the previous one.
func (in *inserter) hand(r *round) {
	r.done = make(chan struct{})
	in.rounds <- r
	in.last = r
}

// busy is closed when the round being inserted is done; nil when idle.
func (in *inserter) busy() <-chan struct{} {
	if in.idle() {
		return nil
	}
	return in.last.done
}

// idle reports whether every round handed over is done.
func (in *inserter) idle() bool {
	if in.last == nil {
		return true
	}
	select {
	case <-in.last.done:
		return true
	default:
		return false
	}
}

// wait waits until every round handed over is done.
func (in *inserter) wait() {
	if in.last != nil {
		<-in.last.done
	}
}

// close waits for the rounds handed over and stops the inserter.
func (in *inserter) close() {
	close(in.rounds)
	<-in.exited
}

// insertRound inserts a round's tables, then advances and commits their
// partitions' offsets.
func (l *Loader) insertRound(ctx, wctx context.Context, r *round) error {
	t0 := time.Now()
	if h := l.hooks.beforeInsert; h != nil && h() != nil {
		l.crashed.Store(true)
		return errCrash
	}
	l.parallelTables(r.tables, func(f *tableFlush) {
		f.err = l.insert(ctx, wctx, f, r.final)
		for _, b := range f.batches {
			b.err = f.err
		}
	})
	if h := l.hooks.afterInsert; h != nil && h() != nil {
		l.crashed.Store(true)
		return errCrash
	}
	l.log.Debug().Int("tables", len(r.tables)).Int("batches", len(r.batches)).Dur("insert", time.Since(t0)).Msg("inserted")
	err := l.advance(r.batches, nil)
	l.commit(wctx)
	return err
}

// insert sends the flush's rows with its token, retrying with backoff until
// ClickHouse accepts them or ctx ends (or once, at shutdown).
func (l *Loader) insert(ctx, wctx context.Context, f *tableFlush, final bool) error {
	s := f.sink
	rt := l.newRetrier(final, "inserting batch")
	for {
		for _, b := range f.batches {
			if l.broken(b.part) {
				return fmt.Errorf("inserting batch: an earlier batch of %s/%d failed", s.Topic, b.part.partition)
			}
		}
		if f.ins == nil {
			if err := l.prepare(wctx, f); err != nil {
				f.ins = nil
				if err := rt.wait(ctx, fmt.Errorf("preparing insert into %s: %w", s.Table, err), f.logCtx); err != nil {
					return err
				}
				continue
			}
		}
		ins := f.ins
		f.ins = nil // a flush is sent at most once; a retry prepares again
		if f.rows == 0 {
			return nil // every record was bad or a repeat
		}
		var links []trace.Link
		for _, b := range f.batches {
			links = append(links, b.links[:min(len(b.links), maxLinks-len(links))]...)
		}
		_, span := l.deps.Tel.Tracer.Start(wctx, "loader insert", trace.WithLinks(links...),
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("messaging.destination.name", s.Topic),
				attribute.Int("messaging.batch.partitions", len(f.batches)),
				attribute.String("db.collection.name", s.Table), attribute.Int("db.rows", f.rows)))
		start := time.Now()
		l.met.statement(s.Table, "insert")
		err := ins.Send(wctx)
		took := time.Since(start)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "insert failed")
		}
		span.End()
		if err == nil {
			l.met.inserted(s.Table, f.rows, took, f.received)
			dups := 0
			for _, b := range f.batches {
				if b.dedup != nil {
					dups += b.dedup.dups
				}
			}
			if dups > 0 {
				l.met.duplicates.Add(context.Background(), int64(dups), l.met.tableAttr(s.Table))
			}
			return nil
		}
		l.met.insertRetries.Add(context.Background(), 1, l.met.tableAttr(s.Table))
		if err := rt.wait(ctx, err, f.logCtx); err != nil {
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

// parallelTables runs fn on every table's flush, at most Workers at a time.
func (l *Loader) parallelTables(tables []*tableFlush, fn func(*tableFlush)) {
	if len(tables) == 1 || l.cfg.Workers == 1 {
		for _, f := range tables {
			fn(f)
		}
		return
	}
	sem := make(chan struct{}, l.cfg.Workers)
	var wg sync.WaitGroup
	for _, f := range tables {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(f)
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

func (l *Loader) broken(p *partState) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return p.broken
}
