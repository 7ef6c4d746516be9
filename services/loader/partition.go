package loader

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// offsetRange is a batch's boundaries: the offsets of its first and last
// record. It names the batch in loader_batches.
type offsetRange struct{ first, last int64 }

// partState is what the loader holds for one assigned topic-partition.
type partState struct {
	sink      *sink
	partition int32
	recs      []*kgo.Record // buffered, in offset order
	since     time.Time     // when the oldest buffered record arrived
	loaded    bool          // its recorded, uncommitted flushes were recovered (recover.go)
	broken    bool          // a batch failed at shutdown: nothing after it may commit
	hwm       int64
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

// due reports when the buffered records must be flushed by age.
func (p *partState) due(maxAge time.Duration) (time.Time, bool) {
	if len(p.recs) == 0 || p.broken {
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

// ready reports whether the partition makes its table's flush due: it holds
// a full batch, or its oldest record is maxAge old.
func (p *partState) ready(now time.Time, maxRows int, maxAge time.Duration) bool {
	if len(p.recs) == 0 || p.broken {
		return false
	}
	return len(p.recs) >= maxRows || (maxAge != held && now.Sub(p.since) >= maxAge)
}

// take cuts everything buffered into batches of at most maxRows records.
func (p *partState) take(maxRows int) []*batch {
	var out []*batch
	for len(p.recs) > 0 && !p.broken {
		n := min(len(p.recs), maxRows)
		out = append(out, p.cut(n))
	}
	return out
}

func (p *partState) cut(n int) *batch {
	b := &batch{part: p, rng: offsetRange{p.recs[0].Offset, p.recs[n-1].Offset}, recs: p.recs[:n:n]}
	// The batch's slice is capped, so appending to the rest never writes
	// into it.
	if p.recs = p.recs[n:]; len(p.recs) == 0 {
		p.recs = nil
	}
	return b
}
