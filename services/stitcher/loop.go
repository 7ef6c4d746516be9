package stitcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

// loop polls, applies and commits. A transaction takes one poll, and while
// the input has a backlog (the poll was full) more polls, up to TxnRecords
// input records or TxnTime: commits, flushes and the changelog records of
// persons touched more than once are paid per transaction, not per poll.
func (s *Stitcher) loop(ctx context.Context, sess *kgo.GroupTransactSession, parts map[string]int32) error {
	pollWait := min(s.cfg.IdleFlush/2, time.Second)
	for {
		if err := s.restorePending(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fetches, closed := s.poll(ctx, sess, pollWait, min(s.cfg.MaxPollRecords, s.cfg.TxnRecords))
		if closed {
			return nil // nothing begun: the polled records are redone by the next owner
		}
		done, err := s.transact(ctx, sess, fetches, parts)
		sess.AllowRebalance()
		if err != nil || done {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// poll polls up to n records, waiting at most wait for the first; closed
// reports that ctx ended or the client closed.
func (s *Stitcher) poll(ctx context.Context, sess *kgo.GroupTransactSession, wait time.Duration, n int) (fetches kgo.Fetches, closed bool) {
	pctx, cancel := context.WithTimeout(ctx, wait)
	fetches = sess.PollRecords(pctx, n)
	cancel()
	if ctx.Err() != nil {
		return nil, true
	}
	var ferr error
	fetches.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		ferr = errors.Join(ferr, fmt.Errorf("fetching %s[%d]: %w", t, p, err))
	})
	if errors.Is(ferr, kgo.ErrClientClosed) {
		return nil, true
	}
	if ferr != nil {
		s.log.Warn().Err(ferr).Msg("fetch failed")
	}
	return fetches, false
}

// restorePending reads back the state of owned partitions that have none.
func (s *Stitcher) restorePending(ctx context.Context) error {
	s.mu.Lock()
	var need []int32
	for p, ps := range s.parts {
		if ps.set == nil {
			need = append(need, p)
		}
	}
	s.mu.Unlock()
	if len(need) == 0 {
		return nil
	}
	sort.Slice(need, func(i, j int) bool { return need[i] < need[j] })
	sets, err := s.restore(ctx, need)
	if err != nil {
		return fmt.Errorf("restoring partitions %v: %w", need, err)
	}
	s.install(sets)
	return nil
}

// applied is one partition's share of a poll.
type applied struct {
	p   int32
	ps  *partState
	in  []*kgo.Record
	out []*kgo.Record
	err error
}

// applyPartition applies a partition's records to its state and encodes the
// records to produce. It runs concurrently with other partitions' (s.mu is
// held by the caller; each goroutine touches only its own partition).
func (s *Stitcher) applyPartition(ctx context.Context, w *applied, deadLetterParts int32) {
	enc := &encoder{s: s, p: w.p, out: w.out}
	defer func() {
		w.out = enc.out
		enc.done(ctx)
	}()
	for _, r := range w.in {
		w.ps.next = r.Offset + 1
		e, err := event.DecodeFast(r.Value)
		if err != nil {
			s.met.bad.Add(ctx, 1)
			if !s.cfg.Replay { // a replay met it before and dead-lettered it then
				enc.out = append(enc.out, s.deadLetter(r, err, deadLetterParts))
			}
			continue
		}
		s.met.events.Add(ctx, 1)
		if err = enc.add(w.ps.set.Add(e)); err != nil {
			w.err = err
			return
		}
	}
}

// encoder turns entity records into Kafka records of partition p. Record
// values are carved out of shared chunks, and the records metric is counted
// per kind and added once, by done.
type encoder struct {
	s      *Stitcher
	p      int32
	out    []*kgo.Record
	slab   []byte
	counts [len(kinds)]int64
	// The key of the last account encoded, shared by its records.
	keyMeta entity.Meta
	key     []byte
}

func (e *encoder) add(recs []stitch.Record) error {
	if len(recs) == 0 {
		return nil
	}
	kr := make([]kgo.Record, len(recs))
	for i, r := range recs {
		var v []byte
		var err error
		if a, ok := r.Value.(jsonAppender); ok {
			if cap(e.slab)-len(e.slab) < 2048 {
				e.slab = make([]byte, 0, 32<<10)
			}
			start := len(e.slab)
			if e.slab, err = a.AppendJSON(e.slab); err == nil {
				v = e.slab[start:len(e.slab):len(e.slab)]
			}
		} else {
			v, err = json.Marshal(r.Value)
		}
		if err != nil {
			return fmt.Errorf("encoding %s record: %w", r.Kind, err)
		}
		kr[i] = kgo.Record{Topic: e.s.topicOf(r.Kind), Partition: e.p, Key: e.keyOf(r), Value: v}
		e.out = append(e.out, &kr[i])
		e.counts[kindIndex(r.Kind)]++
	}
	return nil
}

// keyOf is r's record key; consecutive records of one account share it.
func (e *encoder) keyOf(r stitch.Record) []byte {
	m := metaOf(r.Value)
	if m == nil {
		return keyOf(r)
	}
	if e.key == nil || m.Tenant != e.keyMeta.Tenant || m.Account != e.keyMeta.Account {
		e.keyMeta = entity.Meta{Tenant: m.Tenant, Account: m.Account}
		e.key = []byte(m.AccountKey())
	}
	return e.key
}

// metaOf is the meta of an entity record's value, nil for another kind.
func metaOf(v any) *entity.Meta {
	switch v := v.(type) {
	case *entity.Session:
		return &v.Meta
	case *entity.Call:
		return &v.Meta
	case *entity.Lead:
		return &v.Meta
	case *entity.Deal:
		return &v.Meta
	case *entity.Attribution:
		return &v.Meta
	}
	return nil
}

// done records the metrics of the records encoded so far.
func (e *encoder) done(ctx context.Context) {
	for i, k := range kinds {
		if e.counts[i] > 0 {
			e.s.met.records.Add(ctx, e.counts[i], kindAttr(k))
		}
	}
	e.counts = [len(kinds)]int64{}
}

var kinds = [...]string{stitch.KindSession, stitch.KindCall, stitch.KindLead, stitch.KindDeal, stitch.KindAttribution}

func kindIndex(kind string) int {
	for i, k := range kinds {
		if k == kind {
			return i
		}
	}
	return len(kinds) - 1 // topicOf sends other kinds to attribution too
}

// jsonAppender is what the entity records implement: their wire JSON,
// byte-identical to encoding/json's, without reflection.
type jsonAppender interface {
	AppendJSON([]byte) ([]byte, error)
}

// applyPoll applies one poll's records to their partitions' state and
// produces the records they cause in t. unowned reports records of a
// partition no longer owned (revoked meanwhile): their offsets must not
// commit. On error every partition it applied records to counts as touched,
// for the caller to forget.
func (s *Stitcher) applyPoll(ctx context.Context, t *txn, fetches kgo.Fetches, parts map[string]int32) (unowned bool, err error) {
	// A partition assigned during this poll has no state yet: read it back
	// first. Its records came after a stable offset fetch, so every
	// transaction of its previous owner is resolved.
	if err := s.restoreFetched(ctx, fetches); err != nil {
		return false, err
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
			unowned = true
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
		if err = errors.Join(w.err, t.begin()); err != nil {
			for _, rest := range work[i:] { // applied (maybe in part) too
				t.touched[rest.p] = true
			}
			return unowned, err
		}
		t.touched[w.p] = true
		w.ps.lastTrace = t.span.SpanContext()
		for _, r := range w.out {
			t.produce(ctx, r)
		}
	}
	return unowned, nil
}

// errCrashHook marks an error of hooks.beforeEnd: Run returns as if the
// process died, leaving the transaction open.
var errCrashHook = errors.New("crash hook")

// restoreFetched restores owned partitions that have records in fetches and
// no state yet.
func (s *Stitcher) restoreFetched(ctx context.Context, fetches kgo.Fetches) error {
	var need []int32
	s.mu.Lock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if ps := s.parts[fp.Partition]; len(fp.Records) > 0 && ps != nil && ps.set == nil {
			need = append(need, fp.Partition)
		}
	})
	s.mu.Unlock()
	if len(need) == 0 {
		return nil
	}
	sets, err := s.restore(ctx, need)
	if err != nil {
		return fmt.Errorf("restoring partitions %v: %w", need, err)
	}
	s.install(sets)
	return nil
}

func (s *Stitcher) install(sets map[int32]*stitch.Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for p, set := range sets {
		if ps := s.parts[p]; ps != nil && ps.set == nil { // still ours
			ps.set, ps.lastInput = set, now
		}
	}
}

// transact applies polls' records in one transaction: fetches, then more
// polls while they come full and the transaction's budget lasts. It returns
// done in replay mode once every partition reached its end.
func (s *Stitcher) transact(ctx context.Context, sess *kgo.GroupTransactSession, fetches kgo.Fetches, parts map[string]int32) (done bool, err error) {
	t := &txn{s: s, sess: sess, touched: map[int32]bool{}}
	defer func() {
		// Stopped (or failed) with a transaction open: abort it now rather
		// than leave it to time out, which would hold back read-committed
		// consumers of the output until then. A crash skips this.
		if t.begun && !t.ended && !errors.Is(err, errCrashHook) {
			actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, aerr := sess.End(actx, kgo.TryAbort); aerr != nil {
				s.log.Warn().Err(aerr).Msg("aborting transaction at stop failed")
			}
			s.mu.Lock()
			s.forget(t)
			s.mu.Unlock()
		}
	}()
	defer func() { t.endSpan(err) }()
	t.links = inputLinks(fetches)
	began := time.Now()
	budget := s.cfg.TxnRecords
	polled := 0
	unowned := false
	for {
		asked := min(s.cfg.MaxPollRecords, budget)
		n := fetches.NumRecords()
		u, err := s.applyPoll(ctx, t, fetches, parts)
		if err != nil {
			s.mu.Lock()
			s.forget(t)
			s.mu.Unlock()
			return false, s.abort(ctx, t, err)
		}
		polled += n
		budget -= n
		unowned = unowned || u
		left := s.cfg.TxnTime - time.Since(began)
		// A poll that came short drained what was fetched: commit now
		// rather than wait for more, so a trickle is not held back.
		if unowned || n < asked || budget <= 0 || left <= 0 {
			break
		}
		var closed bool
		if fetches, closed = s.poll(ctx, sess, min(left, s.cfg.IdleFlush/2, time.Second), min(s.cfg.MaxPollRecords, budget)); closed {
			return false, nil // the deferred abort rewinds; the next owner redoes it
		}
		for _, l := range inputLinks(fetches) {
			t.link(l.SpanContext)
		}
	}
	if polled > 0 {
		s.met.txnRecords.Record(ctx, int64(polled))
	}
	now := time.Now()
	s.mu.Lock()
	locked := true
	defer func() {
		if locked {
			s.mu.Unlock()
		}
	}()
	// Apply what waits for the watermark on idle partitions, and at the end of a replay.
	replayDone := s.cfg.Replay
	for p, ps := range s.parts {
		if ps.set == nil {
			replayDone = false
			continue
		}
		atEnd := s.cfg.Replay && ps.next >= ps.end || s.cfg.Replay && ps.end == 0
		replayDone = replayDone && atEnd
		idle := !s.cfg.Replay && now.Sub(ps.lastInput) >= s.cfg.IdleFlush // a replay flushes at its end only, for determinism
		if ps.set.Pending() > 0 && (idle || atEnd) {
			t.link(ps.lastTrace)
			if err := t.emit(ctx, p, ps.set.Flush()); err != nil {
				s.forget(t)
				s.mu.Unlock()
				locked = false
				return false, s.abort(ctx, t, err)
			}
		}
	}
	if s.cfg.Replay && len(s.parts) == 0 {
		replayDone = false
	}
	if !t.begun && !unowned {
		s.idle.Store(polled == 0)
	} else {
		s.idle.Store(false)
	}
	if !t.begun {
		if unowned { // records were polled but nothing begun: rewind by an empty aborted transaction
			if err := t.begin(); err != nil {
				return false, err
			}
		} else {
			return replayDone, nil
		}
	}
	changes := make(map[int32][]stitch.StateChange, len(t.touched))
	var wg sync.WaitGroup
	var cmu sync.Mutex
	for p := range t.touched {
		wg.Go(func() {
			c := s.parts[p].set.TakeChanges()
			cmu.Lock()
			changes[p] = c
			cmu.Unlock()
		})
	}
	wg.Wait()
	for p, cs := range changes {
		for _, c := range cs {
			t.produce(ctx, &kgo.Record{Topic: s.topics.state, Partition: p, Key: []byte(c.Key), Value: c.Value})
		}
	}
	s.mu.Unlock() // the group's callbacks may need it while the transaction ends
	locked = false
	if s.hooks.beforeEnd != nil {
		if err := s.hooks.beforeEnd(); err != nil {
			return false, fmt.Errorf("%w: %w", errCrashHook, err)
		}
	}
	commit := kgo.TryCommit
	if err := sess.Client().Flush(ctx); err != nil {
		return false, fmt.Errorf("flushing transaction: %w", err)
	}
	t.errMu.Lock()
	perr, oversize := t.err, t.oversize
	t.errMu.Unlock()
	switch {
	case oversize:
		s.log.Error().Err(perr).Msg("a record is larger than the broker accepts, aborting transaction; its partitions stop until it fits")
		commit = kgo.TryAbort
	case perr != nil:
		s.log.Warn().Err(perr).Msg("produce failed, aborting transaction")
		commit = kgo.TryAbort
	}
	if unowned {
		s.log.Info().Msg("records of a partition no longer owned, aborting transaction")
		commit = kgo.TryAbort
	}
	t.ended = true
	var committed bool
	if polled == 0 && commit == kgo.TryCommit && s.revocations.Load() == s.revocationsAtEnd {
		committed, err = s.endWithoutOffsets(ctx, sess)
	} else {
		s.revocationsAtEnd = s.revocations.Load()
		committed, err = sess.End(ctx, commit)
	}
	if !committed {
		s.mu.Lock()
		s.forget(t)
		s.mu.Unlock()
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
	s.met.txns.Add(ctx, 1, outcomeAttr("committed"))
	return replayDone, nil
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

// maxLinks bounds the trace links of one transaction span.
const maxLinks = 32

// inputLinks are the trace contexts of the first input records that carry one.
func inputLinks(fetches kgo.Fetches) []trace.Link {
	var links []trace.Link
	fetches.EachRecord(func(r *kgo.Record) {
		if len(links) == maxLinks || len(r.Headers) == 0 {
			return
		}
		if sc := trace.SpanContextFromContext(kafka.ExtractTrace(context.Background(), r)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	})
	return links
}

// abort ends a transaction that cannot commit; its state is forgotten already.
func (s *Stitcher) abort(ctx context.Context, t *txn, cause error) error {
	if t.begun {
		t.ended = true
		if _, err := t.sess.End(ctx, kgo.TryAbort); err != nil {
			return errors.Join(cause, fmt.Errorf("aborting transaction: %w", err))
		}
	}
	return cause
}

// forget throws away the state of the partitions a transaction touched: the
// next loop reads it back from the changelog as it was committed. s.mu is held.
func (s *Stitcher) forget(t *txn) {
	for p := range t.touched {
		if ps := s.parts[p]; ps != nil {
			ps.set = nil
			ps.next = -1
		}
	}
}

func (s *Stitcher) deadLetter(r *kgo.Record, cause error, partitions int32) *kgo.Record {
	rec := deadLetterRecord(r, cause)
	rec.Partition = r.Partition % max(partitions, 1)
	return rec
}
