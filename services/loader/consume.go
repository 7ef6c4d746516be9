package loader

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
)

// consume is the poll → buffer → stage loop. Staged rounds go to the
// inserter, so the next round is decoded while the previous one is inserted.
// Rebalances are held off from a poll until AllowRebalance, which is called
// only when every round handed over is inserted and committed: a flush is
// never cut in two by a partition moving to another member.
func (l *Loader) consume(ctx context.Context, ins *inserter) error {
	for ctx.Err() == nil && !l.crashed.Load() {
		fetches := l.poll(ctx, ins.busy())
		if fetches.IsClientClosed() {
			return errors.New("loader: kafka client closed")
		}
		var err error
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if err == nil {
				err = l.buffer(ctx, p)
			}
		})
		if err != nil {
			return err
		}
		if batches := l.takeDue(time.Now(), !ins.idle(), false); len(batches) > 0 {
			r := &round{batches: batches}
			if err := l.stage(ctx, r, false); err != nil {
				return err
			}
			ins.hand(r)
		}
		if idle := ins.idle(); idle || l.rebalanceWanted.Load() {
			ins.wait()
			if idle {
				l.commit(ctx) // offsets whose commit failed before
			}
			l.rebalanceWanted.Store(false)
			l.cl.AllowRebalance()
		}
	}
	return nil
}

// poll waits for records until the oldest buffered batch is due, at most a
// second so failed commits are retried. While the inserter is busy (busy is
// not nil), the wait also ends when it is done: batches held for it (see
// maxAge) are due then.
func (l *Loader) poll(ctx context.Context, busy <-chan struct{}) kgo.Fetches {
	now := time.Now()
	wait := time.Second
	l.mu.Lock()
	for _, p := range l.parts {
		if age := l.maxAge(p, busy != nil, false); age != held && p.loaded {
			if due, ok := p.due(age); ok {
				wait = min(wait, due.Sub(now))
			}
		}
	}
	l.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, max(wait, time.Millisecond))
	defer cancel()
	if busy != nil {
		go func() {
			select {
			case <-busy:
				cancel()
			case <-pctx.Done():
			}
		}()
	}
	fetches := l.cl.PollRecords(pctx, l.cfg.MaxPollRecords)
	fetches.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		l.log.Warn().Err(err).Str("topic", topic).Int32("partition", p).Msg("fetch error")
	})
	return fetches
}

// buffer adds a fetched partition's records to its state. When the
// partition is new to us it first recovers the flushes recorded for it but
// not committed (recover.go), and drops the records they loaded.
func (l *Loader) buffer(ctx context.Context, f kgo.FetchTopicPartition) error {
	if len(f.Records) == 0 {
		return nil
	}
	s := l.sinks[f.Topic]
	if s == nil {
		return nil
	}
	key := tp{f.Topic, f.Partition}
	l.mu.Lock()
	st := l.parts[key]
	if st == nil {
		st = newPartState(s, f.Partition)
		l.parts[key] = st
	}
	loaded := st.loaded
	l.mu.Unlock()
	recs := f.Records
	if !loaded {
		next, epoch, err := l.recover(ctx, st, recs[0].Offset)
		if err != nil {
			return err
		}
		l.mu.Lock()
		st.loaded = true
		if next >= 0 {
			st.next, st.epoch = next, epoch
			for len(recs) > 0 && recs[0].Offset < next {
				recs = recs[1:]
			}
		}
		l.mu.Unlock()
	}
	l.mu.Lock()
	st.add(recs, f.HighWatermark, time.Now())
	st.hwm = f.HighWatermark
	l.mu.Unlock()
	return nil
}

// takeDue cuts the flushes that are due. A table is due when one of its
// partitions holds a full batch or has waited its table's age; then all of
// its partitions are cut, so the table costs one insert. A table at least
// half-way to its age goes along, so one round carries what would be due
// soon after instead of making its own. At shutdown (final) everything is.
func (l *Loader) takeDue(now time.Time, busy, final bool) []*batch {
	l.mu.Lock()
	defer l.mu.Unlock()
	bySink := map[*sink][]*partState{}
	for _, p := range l.parts {
		bySink[p.sink] = append(bySink[p.sink], p)
	}
	due := map[*sink]bool{}
	for s, ps := range bySink {
		for _, p := range ps {
			if final || p.ready(now, l.cfg.MaxRows, l.maxAge(p, busy, false)) {
				due[s] = true
				break
			}
		}
	}
	if len(due) == 0 {
		return nil
	}
	for s, ps := range bySink {
		for _, p := range ps {
			if age := l.maxAge(p, busy, false); !due[s] && age != held && p.ready(now, l.cfg.MaxRows, age/2) {
				due[s] = true
			}
		}
	}
	var batches []*batch
	for s, ps := range bySink {
		if !due[s] {
			continue
		}
		for _, p := range ps {
			batches = append(batches, p.take(l.cfg.MaxRows)...)
		}
	}
	return batches
}

// held is the age limit of a batch that waits for the inserter.
const held = time.Duration(math.MaxInt64)

// maxAge is how old a partition's records short of MaxRows may grow before
// they make their table due. While the inserter is busy and more of the
// partition is already in Kafka, they are held: they could not be inserted
// sooner anyway, and they grow meanwhile. Under a backlog that makes full
// batches — fewer, larger inserts. A partition that is caught up is due by
// its table's age as usual, so it is decoded while the inserter works.
// While the inserter is idle, a partition more than a batch behind is not
// held for its age: there is nothing to wait for. The caller holds l.mu.
func (l *Loader) maxAge(p *partState, busy, final bool) time.Duration {
	switch behind := p.behind(); {
	case final: // take cuts everything at shutdown
	case busy && behind > 0:
		return held
	case !busy && behind >= int64(l.cfg.MaxRows):
		return 0
	}
	return l.ageOf(p.sink)
}

// ageOf is how long a table's records wait to be flushed: Config.QuietMaxAge
// for quiet tables (few rows; their inserts cost the same part each), else
// Config.MaxAge.
func (l *Loader) ageOf(s *sink) time.Duration {
	if s.Quiet {
		return max(l.cfg.QuietMaxAge, l.cfg.MaxAge)
	}
	return l.cfg.MaxAge
}

// recordedRanges reads the ranges recorded for the partition from offset on:
// batches that were recorded (and maybe inserted) but not committed.
func (l *Loader) recordedRanges(ctx context.Context, p *partState, from int64) ([]recordedRange, error) {
	q := "SELECT first_offset, max(last_offset), max(flush) FROM " + chstore.QuoteIdent(l.cfg.Database) + `.loader_batches
		WHERE consumer = {consumer:String} AND topic = {topic:String} AND partition = {partition:UInt32}
		AND last_offset >= {from:UInt64} GROUP BY first_offset ORDER BY first_offset`
	params := chstore.Params{"consumer": l.cfg.Group, "topic": p.sink.Topic,
		"partition": strconv.Itoa(int(p.partition)), "from": strconv.FormatInt(from, 10)}
	rt := l.newRetrier(false, "reading recorded batch ranges")
	for {
		l.met.statement("loader_batches", "query")
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
func parseRanges(res *chstore.Result, log zerolog.Logger) ([]recordedRange, error) {
	var out []recordedRange
	for _, row := range res.Rows {
		if len(row) != 3 {
			return nil, fmt.Errorf("reading recorded batch ranges: bad row %v", row)
		}
		first, err1 := strconv.ParseInt(fmt.Sprint(row[0]), 10, 64)
		last, err2 := strconv.ParseInt(fmt.Sprint(row[1]), 10, 64)
		flush, err3 := strconv.ParseUint(fmt.Sprint(row[2]), 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("reading recorded batch ranges: bad row %v", row)
		}
		if n := len(out); n > 0 && first <= out[n-1].last {
			log.Warn().Int64("first_offset", first).Int64("last_offset", last).Msg("ignoring overlapping recorded range")
			continue
		}
		out = append(out, recordedRange{offsetRange{first, last}, flush})
	}
	return out, nil
}
