package loader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/chstore"
)

// batch is a contiguous run of one partition's records loaded by one insert.
type batch struct {
	part     *partState
	rng      offsetRange
	recs     []*kgo.Record
	recorded bool // its range is already in loader_batches (re-formed)

	ins      chstore.Batch // prepared rows, nil until (re)prepared
	rows     int
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

// token is the insert's deduplication token; a batch re-formed from its
// recorded range gets the same one.
func (b *batch) token(group string) string {
	return fmt.Sprintf("%s/%s/%d/%d-%d", group, b.part.sink.Topic, b.part.partition, b.rng.first, b.rng.last)
}

func (b *batch) logCtx(ev *zerolog.Event) *zerolog.Event {
	return ev.Str("topic", b.part.sink.Topic).Int32("partition", b.part.partition).
		Int64("first_offset", b.rng.first).Int64("last_offset", b.rng.last)
}

// maxLinks bounds the trace links of one insert span.
const maxLinks = 32

var batchColumns = []chstore.Column{
	{Name: "consumer", Type: "LowCardinality(String)"}, {Name: "topic", Type: "LowCardinality(String)"},
	{Name: "partition", Type: "UInt32"}, {Name: "first_offset", Type: "UInt64"},
	{Name: "last_offset", Type: "UInt64"}, {Name: "rows", Type: "UInt32"},
}

// errCrash is returned when a test hook simulates a crash.
var errCrash = errors.New("loader: crashed by test hook")

// stage gets batches ready to insert: it finds their repeated event ids,
// decodes them, writes the dead letters of their bad records and records
// their ranges, in that order; meanwhile it writes the ids they accept (only
// ids before rows matters: an id whose row is not in yet is a record at an
// offset not committed, read again and found the same first occurrence).
// On failure (only when ctx ends, or at shutdown) their partitions stop.
func (l *Loader) stage(ctx context.Context, batches []*batch, final bool) error {
	t0 := time.Now()
	if err := l.dedup(ctx, batches, final); err != nil {
		l.advance(batches, err)
		return err
	}
	ids := make(chan error, 1)
	go func() { ids <- l.writeIDs(ctx, batches, final) }()
	l.parallel(batches, func(b *batch) {
		b.ins, b.rows, b.received, b.bad, b.err = l.prepare(ctx, b)
		b.links = traceLinks(b.recs)
	})
	t1 := time.Now()
	err := l.deadLetters(ctx, batches, final)
	if err == nil {
		err = l.record(ctx, batches, final)
	}
	if idsErr := <-ids; err == nil {
		err = idsErr
	}
	if ev := l.log.Debug(); ev.Enabled() {
		rows := 0
		for _, b := range batches {
			rows += b.rows
		}
		ev.Int("batches", len(batches)).Int("rows", rows).Dur("prepare", t1.Sub(t0)).
			Dur("record", time.Since(t1)).Msg("staged")
	}
	if err != nil {
		l.advance(batches, err)
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

// prepare decodes the batch's records into a prepared insert. Decoding is
// deterministic, so a retry prepares the same rows and finds the same bad
// records. If the store cannot prepare, the records are still decoded so the
// bad ones are known; the insert prepares again.
func (l *Loader) prepare(ctx context.Context, b *batch) (chstore.Batch, int, []int64, []badRecord, error) {
	s := b.part.sink
	ins, err := l.deps.Store.PrepareInsert(ctx, s.table, s.cols, b.token(l.cfg.Group))
	if err != nil {
		ins = nil
	}
	var received []int64
	if s.receivedAt >= 0 {
		received = make([]int64, 0, len(b.recs))
	}
	var bad []badRecord
	rows, i := 0, -1
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
			bad = append(bad, badRecord{rec, rerr})
			return
		}
		rows++
		if received != nil {
			switch v := row[s.receivedAt].(type) {
			case int64:
				received = append(received, v)
			case time.Time:
				received = append(received, v.UnixMilli())
			}
		}
	})
	return ins, rows, received, bad, err
}

// decodeChunk is how many records a decoding goroutine takes at a time.
const decodeChunk = 256

// eachRow calls fn with each record's row, in record order. The rows are
// decoded ahead on up to Workers goroutines: decoding is most of a batch's
// CPU, while appending to the insert is sequential. At most four chunks per
// worker are decoded and not yet handed to fn, which bounds the memory.
func (l *Loader) eachRow(s *sink, recs []*kgo.Record, fn func(rec *kgo.Record, row []any, err error)) {
	n := (len(recs) + decodeChunk - 1) / decodeChunk
	workers := min(l.cfg.Workers, n)
	if workers <= 1 {
		for _, rec := range recs {
			row, err := s.Row(rec)
			fn(rec, row, err)
		}
		return
	}
	type chunk struct {
		rows [][]any
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
	slots := make(chan struct{}, 4*workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				slots <- struct{}{}
				i := int(next.Add(1)) - 1
				if i >= n {
					<-slots
					return
				}
				c, part := &chunks[i], recsOf(i)
				c.rows, c.errs = make([][]any, len(part)), make([]error, len(part))
				for j, rec := range part {
					c.rows[j], c.errs[j] = s.Row(rec)
				}
				close(c.done)
			}
		})
	}
	for i := range chunks {
		c := &chunks[i]
		<-c.done
		for j, rec := range recsOf(i) {
			fn(rec, c.rows[j], c.errs[j])
		}
		c.rows, c.errs = nil, nil
		<-slots
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
			uint64(b.rng.first), uint64(b.rng.last), uint32(len(b.recs)))
		if err != nil {
			return err
		}
	}
	return ins.Send(ctx)
}
