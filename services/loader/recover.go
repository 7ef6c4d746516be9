package loader

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/kafka"
)

// Recovery of flushes recorded and not committed.
//
// A flush inserts one table's batches of several partitions under one
// token, and records each batch's range with the flush's id. After a crash
// the partitions of one flush may come back to different members, or to
// this one at different times; inserting each partition's share on its own
// under the flush's token would drop every share after the first as a
// repeat. So the first member to find a partition with an uncommitted
// flush re-forms the whole flush — reading the other partitions' ranges
// straight from Kafka — and inserts it under its token: whatever part of it
// was inserted before, and whatever another member re-inserts after, the
// engine drops as repeats. Each member then commits only its own partitions.

// recordedRange is a batch range read back from loader_batches.
type recordedRange struct {
	offsetRange
	flush uint64 // 0: recorded before flushes had ids, re-formed alone
}

// member is one batch of a recorded flush.
type member struct {
	partition int32
	rng       offsetRange
}

// recoverTimeout bounds one attempt at reading a recorded flush's records.
const recoverTimeout = 30 * time.Second

// recover loads the flushes recorded for partition p from offset from on (the
// first record fetched after the committed offset), in order, and returns
// the offset to resume from and its leader epoch (-1, -1 when there were
// none). Records before a recorded range that no range covers were never
// recorded, so never inserted: they are loaded as a new flush first.
func (l *Loader) recover(ctx context.Context, p *partState, from int64) (next int64, epoch int32, err error) {
	ranges, err := l.recordedRanges(ctx, p, from)
	if err != nil || len(ranges) == 0 {
		return -1, -1, err
	}
	topic := p.sink.Topic
	l.log.Info().Str("topic", topic).Int32("partition", p.partition).Int("batches", len(ranges)).
		Int64("from", ranges[0].first).Msg("re-forming recorded flushes")
	next, epoch = from, -1
	for _, r := range ranges {
		if next < r.first {
			got, err := l.fetchRanges(ctx, topic, []member{{p.partition, offsetRange{next, r.first - 1}}})
			if err != nil {
				return -1, -1, err
			}
			if recs := got[0]; len(recs) > 0 {
				b := &batch{part: newPartState(p.sink, p.partition), rng: offsetRange{recs[0].Offset, recs[len(recs)-1].Offset}, recs: recs}
				if err := l.loadFlush(ctx, []*batch{b}); err != nil {
					return -1, -1, err
				}
				epoch = recs[len(recs)-1].LeaderEpoch
			}
		}
		if r.flush == 0 || !l.recovered[r.flush] {
			members := []member{{p.partition, offsetRange{max(r.first, from), r.last}}}
			if r.flush != 0 {
				if members, err = l.flushMembers(ctx, topic, r.flush, p.partition, from); err != nil {
					return -1, -1, err
				}
			}
			got, err := l.fetchRanges(ctx, topic, members)
			if err != nil {
				return -1, -1, err
			}
			parts := map[int32]*partState{}
			var batches []*batch
			for i, m := range members {
				recs := got[i]
				if len(recs) == 0 {
					continue // its records are gone (retention)
				}
				if parts[m.partition] == nil {
					parts[m.partition] = newPartState(p.sink, m.partition)
				}
				batches = append(batches, &batch{part: parts[m.partition], rng: m.rng, recs: recs, recorded: true, flush: r.flush})
				if m.partition == p.partition && m.rng.last == r.last {
					epoch = recs[len(recs)-1].LeaderEpoch
				}
			}
			if len(batches) > 0 {
				if err := l.loadFlush(ctx, batches); err != nil {
					return -1, -1, err
				}
			}
			if r.flush != 0 {
				l.recovered[r.flush] = true
			}
		}
		next = r.last + 1
	}
	return next, epoch, nil
}

// loadFlush stages and inserts one table's batches at once, as a round of
// their own.
func (l *Loader) loadFlush(ctx context.Context, batches []*batch) error {
	r := &round{batches: batches}
	if err := l.stage(ctx, r, false); err != nil {
		return err
	}
	for _, f := range r.tables {
		if f.err = l.insert(ctx, ctx, f, false); f.err != nil {
			return f.err
		}
	}
	return nil
}

// flushMembers reads the ranges of one recorded flush, every partition's,
// in the order the flush inserted them. The range of partition own starts
// at from at the earliest: what is before it was committed.
func (l *Loader) flushMembers(ctx context.Context, topic string, flush uint64, own int32, from int64) ([]member, error) {
	q := "SELECT partition, first_offset, max(last_offset) FROM " + chstore.QuoteIdent(l.cfg.Database) + `.loader_batches
		WHERE consumer = {consumer:String} AND topic = {topic:String} AND flush = {flush:UInt64}
		GROUP BY partition, first_offset ORDER BY partition, first_offset`
	params := chstore.Params{"consumer": l.cfg.Group, "topic": topic, "flush": strconv.FormatUint(flush, 10)}
	rt := l.newRetrier(false, "reading a recorded flush")
	for {
		l.met.statement("loader_batches", "query")
		res, err := l.deps.Store.Query(ctx, q, params)
		if err == nil {
			var out []member
			for _, row := range res.Rows {
				if len(row) != 3 {
					return nil, fmt.Errorf("reading a recorded flush: bad row %v", row)
				}
				part, err1 := strconv.ParseInt(fmt.Sprint(row[0]), 10, 32)
				first, err2 := strconv.ParseInt(fmt.Sprint(row[1]), 10, 64)
				last, err3 := strconv.ParseInt(fmt.Sprint(row[2]), 10, 64)
				if err1 != nil || err2 != nil || err3 != nil {
					return nil, fmt.Errorf("reading a recorded flush: bad row %v", row)
				}
				if int32(part) == own {
					first = max(first, from)
				}
				if first <= last {
					out = append(out, member{int32(part), offsetRange{first, last}})
				}
			}
			return out, nil
		}
		if err := rt.wait(ctx, err, nil); err != nil {
			return nil, err
		}
	}
}

// fetchRanges reads the records of each member's range straight from Kafka
// (read-committed, as the group consumer reads), whoever owns the
// partition now. got[i] holds member i's records; empty when they are gone.
func (l *Loader) fetchRanges(ctx context.Context, topic string, members []member) ([][]*kgo.Record, error) {
	rt := l.newRetrier(false, "reading a recorded flush's records")
	for {
		got, err := l.fetchRangesOnce(ctx, topic, members)
		if err == nil {
			return got, nil
		}
		if err := rt.wait(ctx, err, nil); err != nil {
			return nil, err
		}
	}
}

func (l *Loader) fetchRangesOnce(ctx context.Context, topic string, members []member) ([][]*kgo.Record, error) {
	start := map[int32]kgo.Offset{}
	until := map[int32]int64{} // last offset wanted, per partition
	for _, m := range members {
		if o, ok := until[m.partition]; !ok || m.rng.last > o {
			until[m.partition] = m.rng.last
		}
	}
	for p := range until {
		first := until[p]
		for _, m := range members {
			if m.partition == p {
				first = min(first, m.rng.first)
			}
		}
		start[p] = kgo.NewOffset().At(first)
	}
	cl, err := kgo.NewClient(append(kafka.BaseOpts(l.deps.Kafka, l.deps.Tel.Log),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client: %w", err)
	}
	defer cl.Close()
	fctx, cancel := context.WithTimeout(ctx, recoverTimeout)
	defer cancel()
	byPart := map[int32][]*kgo.Record{}
	for len(until) > 0 {
		fetches := cl.PollFetches(fctx)
		if err := fctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", topic, err)
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("reading %s: %w", topic, ferr)
		}
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			last, ok := until[fp.Partition]
			if !ok {
				return
			}
			for _, rec := range fp.Records {
				if rec.Offset > last {
					delete(until, fp.Partition)
					return
				}
				byPart[fp.Partition] = append(byPart[fp.Partition], rec)
				if rec.Offset == last {
					delete(until, fp.Partition)
					return
				}
			}
			if fp.HighWatermark <= last {
				// The range's end is not in the log (truncated): take what is.
				delete(until, fp.Partition)
			}
		})
	}
	got := make([][]*kgo.Record, len(members))
	for i, m := range members {
		for _, rec := range byPart[m.partition] {
			if rec.Offset >= m.rng.first && rec.Offset <= m.rng.last {
				got[i] = append(got[i], rec)
			}
		}
	}
	return got, nil
}
