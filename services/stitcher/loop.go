package stitcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

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

func (s *Stitcher) deadLetter(r *kgo.Record, cause error, partitions int32) *kgo.Record {
	rec := deadLetterRecord(r, cause)
	rec.Partition = r.Partition % max(partitions, 1)
	return rec
}
