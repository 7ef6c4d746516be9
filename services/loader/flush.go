package loader

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/chstore"
)

// batch is a contiguous run of one partition's records, recorded as one
// range in loader_batches. The batches of one table in a round are inserted
// together (tableFlush).
type batch struct {
	part     *partState
	rng      offsetRange
	recs     []*kgo.Record
	recorded bool   // its range is already in loader_batches (re-formed)
	flush    uint64 // the flush it belongs to (tableFlush.id)

	rows     int     // rows it added to its flush's insert
	received []int64 // received-at of each row, Unix ms, for freshness
	bad      []badRecord
	links    []trace.Link
	err      error

	dedup      *batchIDs // its repeated ids, nil when the sink keeps all
	idsWritten bool      // dedup.rows are in event_ids
}

type badRecord struct {
	rec *kgo.Record
	err error
}

// tableFlush is one table's share of a round: the batches of all its
// partitions, inserted by one insert under one deduplication token. One
// insert costs the engine one part (tens of files) whatever its size, so a
// table costs one part per flush, not one per partition.
type tableFlush struct {
	sink    *sink
	batches []*batch // by partition, then offset: the same order on every attempt
	// id names the flush in loader_batches and in the token. A flush
	// re-formed after a crash has the id it was recorded with; 0 is a range
	// recorded before flushes had ids, re-formed alone under its range token.
	id  uint64
	ins chstore.Batch // prepared rows, nil until (re)prepared
	// rows is how many rows ins holds; received their received-at times.
	rows     int
	received []int64
	err      error
}

// flushID names a new flush by its ranges: deterministic, and distinct for
// distinct ranges of a topic. Never 0.
func flushID(topic string, batches []*batch) uint64 {
	h := fnv.New64a()
	h.Write([]byte(topic))
	var buf [20]byte
	for _, b := range batches {
		binary.BigEndian.PutUint32(buf[:4], uint32(b.part.partition))
		binary.BigEndian.PutUint64(buf[4:12], uint64(b.rng.first))
		binary.BigEndian.PutUint64(buf[12:], uint64(b.rng.last))
		h.Write(buf[:])
	}
	return max(h.Sum64(), 1)
}

// token is the insert's deduplication token; a flush re-formed from its
// recorded ranges gets the same one.
func (f *tableFlush) token(group string) string {
	if f.id == 0 {
		b := f.batches[0]
		return fmt.Sprintf("%s/%s/%d/%d-%d", group, f.sink.Topic, b.part.partition, b.rng.first, b.rng.last)
	}
	return fmt.Sprintf("%s/%s/flush-%016x", group, f.sink.Topic, f.id)
}

func (f *tableFlush) logCtx(ev *zerolog.Event) *zerolog.Event {
	return ev.Str("table", f.sink.Table).Int("batches", len(f.batches)).Uint64("flush", f.id)
}

// tableFlushes groups a round's batches by table, in a fixed order. New
// batches get their flush's id; re-formed ones keep theirs (the caller
// passes them as one flush).
func tableFlushes(batches []*batch) []*tableFlush {
	by := map[*sink]*tableFlush{}
	var out []*tableFlush
	for _, b := range batches {
		f := by[b.part.sink]
		if f == nil {
			f = &tableFlush{sink: b.part.sink, id: b.flush}
			by[b.part.sink] = f
			out = append(out, f)
		}
		f.batches = append(f.batches, b)
	}
	for _, f := range out {
		slices.SortFunc(f.batches, func(a, b *batch) int {
			if c := cmp.Compare(a.part.partition, b.part.partition); c != 0 {
				return c
			}
			return cmp.Compare(a.rng.first, b.rng.first)
		})
		if !f.batches[0].recorded {
			f.id = flushID(f.sink.Topic, f.batches)
			for _, b := range f.batches {
				b.flush = f.id
			}
		}
	}
	slices.SortFunc(out, func(a, b *tableFlush) int { return cmp.Compare(a.sink.Topic, b.sink.Topic) })
	return out
}

// maxLinks bounds the trace links of one insert span.
const maxLinks = 32

var batchColumns = []chstore.Column{
	{Name: "consumer", Type: "LowCardinality(String)"}, {Name: "topic", Type: "LowCardinality(String)"},
	{Name: "partition", Type: "UInt32"}, {Name: "first_offset", Type: "UInt64"},
	{Name: "last_offset", Type: "UInt64"}, {Name: "rows", Type: "UInt32"}, {Name: "flush", Type: "UInt64"},
}

// errCrash is returned when a test hook simulates a crash.
var errCrash = errors.New("loader: crashed by test hook")

// stage gets a round ready to insert: it finds its repeated event ids,
// decodes each table's batches into one insert, writes the dead letters of
// their bad records and records their ranges, in that order; meanwhile it
// writes the ids they accept (only ids before rows matters: an id whose row
// is not in yet is a record at an offset not committed, read again and found
// the same first occurrence). On failure (only when ctx ends, or at
// shutdown) their partitions stop.
func (l *Loader) stage(ctx context.Context, r *round, final bool) error {
	t0 := time.Now()
	if err := l.dedup(ctx, r.batches, final); err != nil {
		l.advance(r.batches, err)
		return err
	}
	ids := make(chan error, 1)
	go func() { ids <- l.writeIDs(ctx, r.batches, final) }()
	r.tables = tableFlushes(r.batches)
	l.parallelTables(r.tables, func(f *tableFlush) {
		f.err = l.prepare(ctx, f)
		for _, b := range f.batches {
			b.links = traceLinks(b.recs)
		}
	})
	t1 := time.Now()
	err := l.deadLetters(ctx, r.batches, final)
	if err == nil {
		err = l.record(ctx, r.batches, final)
	}
	if idsErr := <-ids; err == nil {
		err = idsErr
	}
	if ev := l.log.Debug(); ev.Enabled() {
		rows := 0
		for _, f := range r.tables {
			rows += f.rows
		}
		ev.Int("batches", len(r.batches)).Int("tables", len(r.tables)).Int("rows", rows).
			Dur("prepare", t1.Sub(t0)).Dur("record", time.Since(t1)).Msg("staged")
	}
	if err != nil {
		l.advance(r.batches, err)
	}
	return err
}

// advance moves each partition's commit offset past its inserted batches,
// in offset order. A failed batch stops its partition: nothing after it
// may be committed.
func (l *Loader) advance(batches []*batch, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range batches {
		p := b.part
		switch {
		case p.broken:
		case err != nil || b.err != nil:
			p.broken = true
			if err == nil {
				err = b.err
			}
		default:
			p.next, p.epoch = b.rng.last+1, b.recs[len(b.recs)-1].LeaderEpoch
		}
	}
	return err
}

// prepare decodes the flush's batches, in order, into one prepared insert.
// Decoding is deterministic, so a retry prepares the same rows and finds the
// same bad records. If the store cannot prepare, the records are still
// decoded so the bad ones are known; the insert prepares again.
func (l *Loader) prepare(ctx context.Context, f *tableFlush) error {
	s := f.sink
	ins, err := l.deps.Store.PrepareInsert(ctx, s.table, s.cols, f.token(l.cfg.Group))
	if err != nil {
		ins = nil
	}
	f.ins, f.rows, f.received = ins, 0, nil
	for _, b := range f.batches {
		l.prepareBatch(b, ins)
		f.rows += b.rows
		f.received = append(f.received, b.received...)
	}
	return err
}

// prepareBatch appends a batch's rows to ins (when not nil) and notes its
// bad records.
func (l *Loader) prepareBatch(b *batch, ins chstore.Batch) {
	s := b.part.sink
	b.received, b.bad, b.rows = nil, nil, 0
	if s.receivedAt >= 0 {
		b.received = make([]int64, 0, len(b.recs))
	}
	if s.Envelopes {
		if tb, ok := ins.(chstore.TypedBatch); ok || ins == nil {
			l.prepareEnvelopes(b, tb)
			return
		}
	}
	i := -1
	l.eachRow(s, b.recs, func(rec *kgo.Record, row []any, rerr error) {
		i++
		if b.dedup != nil && b.dedup.dup[i] {
			return // a repeat: neither a row nor a dead letter
		}
		if rerr == nil {
			rerr = checkID(b.dedup, i, row, s.idCol)
		}
		if rerr == nil && ins != nil {
			if aerr := ins.Append(append(row, rec.Topic, uint32(rec.Partition), uint64(rec.Offset))...); aerr != nil {
				rerr = fmt.Errorf("encoding row: %w", aerr)
			}
		}
		if rerr != nil {
			b.bad = append(b.bad, badRecord{rec, rerr})
			return
		}
		b.rows++
		if b.received != nil {
			switch v := row[s.receivedAt].(type) {
			case int64:
				b.received = append(b.received, v)
			case time.Time:
				b.received = append(b.received, v.UnixMilli())
			}
		}
	})
}

// decodeChunk is how many records a decoding goroutine takes at a time.
const decodeChunk = 256

// eachRow calls fn with each record's row, in record order (eachDecoded).
func (l *Loader) eachRow(s *sink, recs []*kgo.Record, fn func(rec *kgo.Record, row []any, err error)) {
	eachDecoded(l.cfg.Workers, recs, func(rec *kgo.Record, row *[]any) (err error) {
		*row, err = s.Row(rec)
		return err
	}, func(rec *kgo.Record, row *[]any, err error) { fn(rec, *row, err) })
}

// eachDecoded calls fn with each record decoded, in record order. The
// records are decoded ahead on up to workers goroutines: decoding is most of
// a batch's CPU, while appending to the insert is sequential. At most four
// chunks per worker are decoded and not yet handed to fn, which bounds the
// memory; a chunk's values are reused by the next chunk, so fn must not
// keep v. decode must set all of *v: v holds what an earlier record
// decoded to, so a decoder may reuse it (event.DecodeView reuses maps).
func eachDecoded[T any](workers int, recs []*kgo.Record, decode func(*kgo.Record, *T) error, fn func(rec *kgo.Record, v *T, err error)) {
	n := (len(recs) + decodeChunk - 1) / decodeChunk
	workers = min(workers, n)
	if workers <= 1 {
		var v T
		for _, rec := range recs {
			err := decode(rec, &v)
			fn(rec, &v, err)
		}
		return
	}
	type chunk struct {
		vals []T
		errs []error
		done chan struct{}
	}
	chunks := make([]chunk, n)
	for i := range chunks {
		chunks[i].done = make(chan struct{})
	}
	recsOf := func(i int) []*kgo.Record { return recs[i*decodeChunk : min((i+1)*decodeChunk, len(recs))] }
	// A worker takes a slot before it claims the next chunk, and chunks are
	// claimed in order, so the chunk fn waits for is always being decoded.
	// A slot carries its chunk's buffers to the next chunk that takes it.
	type bufs struct {
		vals []T
		errs []error
	}
	slots := make(chan *bufs, 4*workers)
	for range cap(slots) {
		slots <- &bufs{}
	}
	taken := make([]*bufs, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				buf := <-slots
				i := int(next.Add(1)) - 1
				if i >= n {
					slots <- buf
					return
				}
				c, part := &chunks[i], recsOf(i)
				if cap(buf.vals) < len(part) {
					buf.vals, buf.errs = make([]T, decodeChunk), make([]error, decodeChunk)
				}
				c.vals, c.errs = buf.vals[:len(part)], buf.errs[:len(part)]
				for j, rec := range part {
					c.errs[j] = decode(rec, &c.vals[j])
				}
				taken[i] = buf
				close(c.done)
			}
		})
	}
	for i := range chunks {
		c := &chunks[i]
		<-c.done
		for j, rec := range recsOf(i) {
			fn(rec, &c.vals[j], c.errs[j])
		}
		c.vals, c.errs = nil, nil
		slots <- taken[i]
	}
	wg.Wait()
}

// deadLetters produces a dead letter for each bad record of the batches not
// yet recorded, and waits for Kafka to have them: a batch is recorded only
// after its dead letters are written, so a re-formed batch skips them.
func (l *Loader) deadLetters(ctx context.Context, batches []*batch, final bool) error {
	var out []*kgo.Record
	for _, b := range batches {
		for _, br := range b.bad {
			if b.part.sink.DeadLetter && !b.recorded {
				l.log.Warn().Err(br.err).Str("topic", br.rec.Topic).Int32("partition", br.rec.Partition).
					Int64("offset", br.rec.Offset).Msg("dead-lettering bad record")
				out = append(out, deadLetterFor(br.rec, br.err))
				continue
			}
			if !b.recorded {
				l.met.deadLetters.Add(context.Background(), 1, l.met.topicAction(b.part.sink.Topic, "skipped"))
			}
			l.log.Warn().Err(br.err).Str("topic", br.rec.Topic).Int32("partition", br.rec.Partition).
				Int64("offset", br.rec.Offset).Msg("skipping bad record")
		}
	}
	rt := l.newRetrier(final, "producing dead letters")
	for len(out) > 0 {
		var failed []*kgo.Record
		var ferr error
		for _, r := range l.cl.ProduceSync(ctx, out...) {
			if r.Err != nil {
				failed, ferr = append(failed, r.Record), r.Err
				continue
			}
			l.met.deadLetters.Add(context.Background(), 1, l.met.topicAction(r.Record.Topic, "produced"))
		}
		if len(failed) == 0 {
			return nil
		}
		out = failed
		if err := rt.wait(ctx, ferr, nil); err != nil {
			return err
		}
	}
	return nil
}

// record writes the ranges of the batches not yet recorded to loader_batches,
// in one insert, before any of their rows are inserted.
func (l *Loader) record(ctx context.Context, batches []*batch, final bool) error {
	var todo []*batch
	for _, b := range batches {
		if !b.recorded {
			todo = append(todo, b)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	table := chstore.QuoteIdent(l.cfg.Database) + ".loader_batches"
	rt := l.newRetrier(final, "recording batch ranges")
	for {
		err := l.recordOnce(ctx, table, todo)
		if err == nil {
			for _, b := range todo {
				b.recorded = true
			}
			return nil
		}
		if err := rt.wait(ctx, err, nil); err != nil {
			return err
		}
	}
}

func (l *Loader) recordOnce(ctx context.Context, table string, todo []*batch) error {
	ins, err := l.deps.Store.PrepareInsert(ctx, table, batchColumns, "")
	if err != nil {
		return err
	}
	for _, b := range todo {
		err := ins.Append(l.cfg.Group, b.part.sink.Topic, uint32(b.part.partition),
			uint64(b.rng.first), uint64(b.rng.last), uint32(len(b.recs)), b.flush)
		if err != nil {
			return err
		}
	}
	l.met.statement("loader_batches", "insert")
	return ins.Send(ctx)
}
