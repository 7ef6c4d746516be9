package stitcher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

// txn is one Kafka transaction of the loop. Its steps, in order:
//
//   - begin: the Kafka transaction and its span, when the first record is
//     produced (a transaction with nothing to write never begins);
//   - apply: the polled records to their partitions' state, producing the
//     entity records they cause — more polls while the input has a backlog;
//   - flush: the events that waited for the watermark on idle partitions
//     (or at a replay's end), then the changelog of the state it changed;
//   - commit: the producer flushed, then commit with the input offsets, or
//     abort when a produce failed.
//
// A step that fails forgets the state of the partitions the transaction
// touched — the next loop reads it back from the changelog as committed —
// and aborts. s.mu is held by the steps that touch partition state, each for
// its own scope, and never while the transaction ends: the group's
// callbacks need it then.
type txn struct {
	s       *Stitcher
	sess    *kgo.GroupTransactSession
	touched map[int32]bool
	// polled counts the input records applied; unowned: some were of a
	// partition no longer owned (revoked meanwhile), so the transaction
	// must not commit their offsets.
	polled  int
	unowned bool

	errMu sync.Mutex
	err   error
	// oversize: a record was refused as larger than the broker accepts.
	// Redoing the transaction makes the same record: the partition is
	// stuck until an operator acts, so it is an error, not a warning.
	oversize bool

	begun bool
	ended bool
	// The transaction's span starts when the transaction begins, linked to
	// the traces of the records it consumes and, for output of events that
	// waited for the watermark, to the transaction that consumed them.
	span     trace.Span
	traceCtx context.Context
	links    []trace.Link
}

// errCrashHook marks an error of hooks.beforeEnd: Run returns as if the
// process died, leaving the transaction open.
var errCrashHook = errors.New("crash hook")

// transact applies polls' records in one transaction: fetches, then more
// polls while they come full and the transaction's budget lasts. It returns
// done in replay mode once every partition reached its end.
func (s *Stitcher) transact(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches, parts map[string]int32) (done bool, err error) {
	t := &txn{s: s, sess: sess, touched: map[int32]bool{}, links: inputLinks(fetches)}
	defer func() { t.close(err) }()
	closed, err := t.apply(ctx, fetches, parts)
	if err != nil || closed {
		return false, err
	}
	done, open, err := t.flush(ctx)
	if err != nil || !open {
		return done, err
	}
	committed, err := t.commit(ctx)
	return done && committed, err
}

// close runs when transact returns. A transaction begun and not ended
// (stopped, or failed midway) is aborted now rather than left to time out,
// which would hold back read-committed consumers of the output until then;
// a crash (the test hook) leaves it open, as a dying process would.
func (t *txn) close(err error) {
	t.endSpan(err)
	if !t.begun || t.ended || errors.Is(err, errCrashHook) {
		return
	}
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.ended = true
	if _, aerr := t.sess.End(actx, kgo.TryAbort); aerr != nil {
		t.s.log.Warn().Err(aerr).Msg("aborting transaction at stop failed")
	}
	t.forget()
}

// begin begins the Kafka transaction and its span, once.
func (t *txn) begin() error {
	if t.begun {
		return nil
	}
	if err := t.sess.Begin(); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	t.begun = true
	t.traceCtx, t.span = t.s.deps.Tel.Tracer.Start(context.Background(), "stitcher transaction",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(t.links...))
	return nil
}

// apply applies fetches and, while polls come full and the transaction's
// budget (TxnRecords, TxnTime) lasts, more polls. closed reports that ctx
// ended or the client closed while polling: the transaction is abandoned.
func (t *txn) apply(ctx context.Context, fetches kgo.Fetches, parts map[string]int32) (closed bool, err error) {
	s := t.s
	began := time.Now()
	budget := s.cfg.TxnRecords
	for {
		asked := min(s.cfg.MaxPollRecords, budget)
		n := fetches.NumRecords()
		if err := t.applyPoll(ctx, fetches, parts); err != nil {
			return false, t.fail(ctx, err)
		}
		t.polled += n
		budget -= n
		left := s.cfg.TxnTime - time.Since(began)
		// A poll that came short drained what was fetched: commit now
		// rather than wait for more, so a trickle is not held back.
		if t.unowned || n < asked || budget <= 0 || left <= 0 {
			break
		}
		if fetches, closed = s.poll(ctx, t.sess, min(left, s.cfg.IdleFlush/2, time.Second), min(s.cfg.MaxPollRecords, budget)); closed {
			return true, nil // close aborts; the next owner redoes it
		}
		for _, l := range inputLinks(fetches) {
			t.link(l.SpanContext)
		}
	}
	if t.polled > 0 {
		s.met.txnRecords.Record(ctx, int64(t.polled))
	}
	return false, nil
}

// applyPoll applies one poll's records to their partitions' state and
// produces the records they cause. Records of a partition no longer owned
// (revoked meanwhile) are not applied and mark the transaction unowned. On
// error every partition it applied records to counts as touched, for fail
// to forget.
func (t *txn) applyPoll(ctx context.Context, fetches kgo.Fetches, parts map[string]int32) error {
	s := t.s
	// A partition assigned during this poll has no state yet: read it back
	// first. Its records came after a stable offset fetch, so every
	// transaction of its previous owner is resolved.
	if err := s.restoreFetched(ctx, fetches); err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Partitions are independent: apply each one's records concurrently,
	// then produce their output in partition order.
	var work []*applied
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		ps := s.parts[fp.Partition]
		if ps == nil || ps.set == nil { // revoked meanwhile: its offsets must not commit
			t.unowned = true
			return
		}
		ps.lastInput = now
		work = append(work, &applied{p: fp.Partition, ps: ps, in: fp.Records})
	})
	var wg sync.WaitGroup
	for _, w := range work {
		wg.Go(func() { s.applyPartition(ctx, w, parts[kafka.TopicDeadLetter]) })
	}
	wg.Wait()
	for i, w := range work {
		if err := errors.Join(w.err, t.begin()); err != nil {
			for _, rest := range work[i:] { // applied (maybe in part) too
				t.touched[rest.p] = true
			}
			return err
		}
		t.touched[w.p] = true
		w.ps.lastTrace = t.span.SpanContext()
		for _, r := range w.out {
			t.produce(ctx, r)
		}
	}
	return nil
}

// flush applies what waits for the watermark where it is due and produces
// the changelog records of the state the transaction changed. replayDone:
// in replay mode, every partition reached its end. open: the transaction
// has something to end — it began, or records of a partition no longer
// owned were polled, which rewind by an empty aborted transaction.
func (t *txn) flush(ctx context.Context) (replayDone, open bool, err error) {
	if replayDone, open, err = t.flushLocked(ctx); err != nil {
		return false, false, t.abort(ctx, err)
	}
	return replayDone, open, nil
}

// flushLocked is flush's work under s.mu. A failure forgets the touched
// partitions' state before s.mu is let go, so nothing reads it meanwhile.
func (t *txn) flushLocked(ctx context.Context) (replayDone, open bool, err error) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		if err != nil {
			t.forgetLocked()
		}
	}()
	if replayDone, err = t.flushWaiting(ctx); err != nil {
		return false, false, err
	}
	// Nothing polled, flushed or to rewind: everything consumed so far is committed.
	s.idle.Store(!t.begun && !t.unowned && t.polled == 0)
	if !t.begun {
		if !t.unowned {
			return replayDone, false, nil
		}
		if err := t.begin(); err != nil {
			return false, false, err
		}
	}
	t.produceChanges(ctx)
	return replayDone, true, nil
}

// flushWaiting applies the events waiting for the watermark on partitions
// idle for IdleFlush or, in a replay, at their end (a replay flushes only
// there, for determinism), and reports whether a replay is done. s.mu is held.
func (t *txn) flushWaiting(ctx context.Context) (replayDone bool, err error) {
	s := t.s
	now := time.Now()
	replayDone = s.cfg.Replay && len(s.parts) > 0
	for p, ps := range s.parts {
		if ps.set == nil {
			replayDone = false
			continue
		}
		atEnd := s.cfg.Replay && (ps.next >= ps.end || ps.end == 0)
		replayDone = replayDone && atEnd
		idle := !s.cfg.Replay && now.Sub(ps.lastInput) >= s.cfg.IdleFlush // a replay flushes at its end only, for determinism
		if ps.set.Pending() > 0 && (idle || atEnd) {
			t.link(ps.lastTrace)
			if err := t.emit(ctx, p, ps.set.Flush()); err != nil {
				return false, err
			}
		}
	}
	return replayDone, nil
}

// produceChanges takes the state changes of the partitions the transaction
// touched, encoding them concurrently, and produces them to the changelog.
// s.mu is held.
func (t *txn) produceChanges(ctx context.Context) {
	changes := make(map[int32][]stitch.StateChange, len(t.touched))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for p := range t.touched {
		set := t.s.parts[p].set // a rebalance waits for the transaction: the partition is still owned
		wg.Go(func() {
			c := set.TakeChanges()
			mu.Lock()
			changes[p] = c
			mu.Unlock()
		})
	}
	wg.Wait()
	for p, cs := range changes {
		for _, c := range cs {
			t.produce(ctx, &kgo.Record{Topic: t.s.topics.state, Partition: p, Key: []byte(c.Key), Value: c.Value})
		}
	}
}

// commit ends the transaction: after the crash tests' hook, the producer is
// flushed, then the transaction commits with the input offsets, or aborts
// (see outcome). committed false: aborted, its touched state forgotten.
func (t *txn) commit(ctx context.Context) (committed bool, err error) {
	s := t.s
	if s.hooks.beforeEnd != nil {
		if err := s.hooks.beforeEnd(); err != nil {
			return false, fmt.Errorf("%w: %w", errCrashHook, err)
		}
	}
	if err := t.sess.Client().Flush(ctx); err != nil {
		return false, fmt.Errorf("flushing transaction: %w", err)
	}
	how, oversize := t.outcome()
	t.ended = true
	if t.polled == 0 && how == kgo.TryCommit && s.revocations.Load() == s.revocationsAtEnd {
		committed, err = s.endWithoutOffsets(ctx, t.sess)
	} else {
		s.revocationsAtEnd = s.revocations.Load()
		committed, err = t.sess.End(ctx, how)
	}
	if committed {
		s.met.txns.Add(ctx, 1, outcomeAttr("committed"))
		return true, nil
	}
	t.forget()
	s.met.txns.Add(ctx, 1, outcomeAttr("aborted"))
	if err != nil {
		return false, fmt.Errorf("ending transaction: %w", err)
	}
	if oversize { // redoing it makes the same record: retry at a pace that does not flood the log
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return false, nil
}

// outcome is how the transaction ends: it aborts when a produce failed (a
// record larger than the broker accepts is logged as the error it is) or
// records of a partition no longer owned were polled.
func (t *txn) outcome() (how kgo.TransactionEndTry, oversize bool) {
	t.errMu.Lock()
	perr, oversize := t.err, t.oversize
	t.errMu.Unlock()
	how = kgo.TryCommit
	switch {
	case oversize:
		t.s.log.Error().Err(perr).Msg("a record is larger than the broker accepts, aborting transaction; its partitions stop until it fits")
		how = kgo.TryAbort
	case perr != nil:
		t.s.log.Warn().Err(perr).Msg("produce failed, aborting transaction")
		how = kgo.TryAbort
	}
	if t.unowned {
		t.s.log.Info().Msg("records of a partition no longer owned, aborting transaction")
		how = kgo.TryAbort
	}
	return how, oversize
}

// fail forgets the state of the partitions the transaction touched and
// aborts it, if it began.
func (t *txn) fail(ctx context.Context, cause error) error {
	t.forget()
	return t.abort(ctx, cause)
}

// abort ends a transaction that cannot commit, if it began; the state of
// the partitions it touched is forgotten already.
func (t *txn) abort(ctx context.Context, cause error) error {
	if !t.begun || t.ended {
		return cause
	}
	t.ended = true
	if _, err := t.sess.End(ctx, kgo.TryAbort); err != nil {
		return errors.Join(cause, fmt.Errorf("aborting transaction: %w", err))
	}
	return cause
}

// forget throws away the state of the partitions the transaction touched:
// the next loop reads it back from the changelog as it was committed.
func (t *txn) forget() {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.forgetLocked()
}

// forgetLocked is forget with s.mu held.
func (t *txn) forgetLocked() {
	for p := range t.touched {
		if ps := t.s.parts[p]; ps != nil {
			ps.set = nil
			ps.next = -1
		}
	}
}

// endWithoutOffsets commits a transaction that consumed nothing (events
// that waited for the watermark, applied at idle). GroupTransactSession.End
// would hold the loop 500 ms after such a commit: with no TxnOffsetCommit
// answer it cannot tell the broker supports KIP-447, and waits out the race
// of pre-2.5 brokers. With no offsets there is no race to wait out: the
// changelog and the output commit or abort together. It is used only when
// no partition was revoked or lost since the session's last End, so the
// session has no failure to reset; one that comes meanwhile aborts the
// session's next transaction, which is redone.
func (s *Stitcher) endWithoutOffsets(ctx context.Context, sess *kgo.GroupTransactSession) (committed bool, err error) {
	cl := sess.Client()
	err = cl.EndTransaction(ctx, kgo.TryCommit)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, kerr.OperationNotAttempted), errors.Is(err, kerr.TransactionAbortable), errors.Is(err, kerr.UnknownServerError):
		// Not committed, or not confirmed: as the session's End, report an
		// abort; the state is read back from the changelog either way.
		s.log.Warn().Err(err).Msg("committing a transaction without offsets failed, aborting it")
		if aerr := cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			return false, errors.Join(err, fmt.Errorf("aborting: %w", aerr))
		}
		return false, nil
	}
	return false, err
}

// link adds a trace link to the transaction's span (or to its start).
func (t *txn) link(sc trace.SpanContext) {
	switch {
	case !sc.IsValid() || len(t.links) >= maxLinks:
	case t.span != nil:
		t.span.AddLink(trace.Link{SpanContext: sc})
	default:
		t.links = append(t.links, trace.Link{SpanContext: sc})
	}
}

// endSpan ends the transaction's span, if it began.
func (t *txn) endSpan(err error) {
	if t.span == nil {
		return
	}
	if err != nil {
		t.span.RecordError(err)
		t.span.SetStatus(codes.Error, "transaction failed")
	}
	t.span.End()
}

// produce produces r in the transaction; a failure is kept for outcome.
func (t *txn) produce(ctx context.Context, r *kgo.Record) {
	if r.Topic != t.s.topics.state && t.traceCtx != nil { // the changelog is read back by the stitcher only
		kafka.InjectTrace(t.traceCtx, r)
	}
	t.sess.Produce(ctx, r, func(r *kgo.Record, err error) {
		if err == nil {
			return
		}
		too := errors.Is(err, kerr.MessageTooLarge)
		if too {
			t.s.met.oversize.Add(context.WithoutCancel(ctx), 1, topicAttr(r.Topic))
			err = fmt.Errorf("record %q of %s[%d] (%d bytes) is larger than Kafka accepts: every retry makes it again, "+
				"so the partition cannot commit until it fits: %w",
				r.Key, r.Topic, r.Partition, len(r.Key)+len(r.Value), err)
		}
		t.errMu.Lock()
		t.err = errors.Join(t.err, err)
		t.oversize = t.oversize || too
		t.errMu.Unlock()
	})
}

// emit produces entity records of partition p in the transaction.
func (t *txn) emit(ctx context.Context, p int32, recs []stitch.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := t.begin(); err != nil {
		return err
	}
	t.touched[p] = true
	enc := &encoder{s: t.s, p: p}
	err := enc.add(recs)
	enc.done(ctx)
	for _, r := range enc.out {
		t.produce(ctx, r)
	}
	return err
}
