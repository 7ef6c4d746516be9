package loader

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// offsetRange is a batch's boundaries: the offsets of its first and last
// record. It names the batch in loader_batches and in the dedup token.
type offsetRange struct{ first, last int64 }

// partState is what the loader holds for one assigned topic-partition.
type partState struct {
	sink      *sink
	partition int32
	recs      []*kgo.Record // buffered, in offset order
	since     time.Time     // when the oldest buffered record arrived
	// planned are ranges recorded in loader_batches but not committed: they
	// are re-formed exactly, before any new batch.
	planned []offsetRange
	loaded  bool // planned was read for this assignment
	broken  bool // a batch failed at shutdown: nothing after it may commit
	hwm     int64
	// next is the offset to commit (one past the last loaded record), with
	// the leader epoch of that record; committed is what Kafka has.
	next, committed int64
	epoch           int32
}

func newPartState(s *sink, partition int32) *partState {
	return &partState{sink: s, partition: partition, next: -1, committed: -1, epoch: -1}
}

func (p *partState) add(recs []*kgo.Record, hwm int64, now time.Time) {
	if len(recs) == 0 {
		return
	}
	if len(p.recs) == 0 {
		p.since = now
	}
	if p.next < 0 {
		p.next = recs[0].Offset
	}
	p.recs = append(p.recs, recs...)
	p.hwm = hwm
}

// due reports when the buffered records must be flushed by age. A planned
// range is flushed when complete, not by age.
func (p *partState) due(maxAge time.Duration) (time.Time, bool) {
	if len(p.recs) == 0 || len(p.planned) > 0 || p.broken {
		return time.Time{}, false
	}
	return p.since.Add(maxAge), true
}

// behind is how many offsets the partition has in Kafka past those buffered
// (by the high watermark of the last fetch).
func (p *partState) behind() int64 {
	if len(p.recs) == 0 {
		return 0
	}
	return max(p.hwm-p.recs[len(p.recs)-1].Offset-1, 0)
}

// lag is how many records of the partition are not loaded and committed.
func (p *partState) lag() int64 {
	if p.next < 0 {
		return 0
	}
	return max(p.hwm-p.next, 0)
}

// take cuts the batches that are ready: planned ranges once a record at or
// past their end is buffered, then new batches of maxRows records, then the
// rest when it is older than maxAge or final is set (shutdown).
func (p *partState) take(now time.Time, maxRows int, maxAge time.Duration, final bool) []*batch {
	var out []*batch
	for len(p.recs) > 0 && !p.broken {
		if len(p.planned) > 0 {
			r := p.planned[0]
			if p.recs[0].Offset < r.first {
				// Records before the recorded range were never recorded:
				// a new batch that ends where the range starts.
				n := p.countUpTo(r.first - 1)
				out = append(out, p.cut(n, offsetRange{p.recs[0].Offset, p.recs[n-1].Offset}, false))
				continue
			}
			if p.recs[len(p.recs)-1].Offset < r.last {
				break // the range is not complete yet
			}
			p.planned = p.planned[1:]
			if n := p.countUpTo(r.last); n > 0 {
				out = append(out, p.cut(n, r, true))
			}
			continue
		}
		n := len(p.recs)
		if n > maxRows {
			n = maxRows
		} else if n < maxRows && !final && now.Sub(p.since) < maxAge {
			break
		}
		out = append(out, p.cut(n, offsetRange{p.recs[0].Offset, p.recs[n-1].Offset}, false))
	}
	return out
}

func (p *partState) countUpTo(last int64) int {
	n := 0
	for n < len(p.recs) && p.recs[n].Offset <= last {
		n++
	}
	return n
}

func (p *partState) cut(n int, r offsetRange, recorded bool) *batch {
	b := &batch{part: p, rng: r, recs: p.recs[:n:n], recorded: recorded}
	// The batch's slice is capped, so appending to the rest never writes
	// into it.
	if p.recs = p.recs[n:]; len(p.recs) == 0 {
		p.recs = nil
	}
	return b
}
