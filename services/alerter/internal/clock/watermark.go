// Package clock is the alerter's event-time clock. Each input partition
// advances with the latest event time read from it; the clock is the
// earliest of the partitions that are still behind their end, so an
// account is never judged at an instant its own partition has not reached.
// When no partition is behind, the inputs are idle and the clock follows
// the wall clock, a fixed lag behind it: silence rules need time to pass
// without events. The clock never goes backwards, and an event time ahead
// of the wall clock (a skewed sender) moves it no further than the wall
// clock plus a small skew.
package clock

import (
	"sort"
	"time"
)

// TP names a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

type part struct {
	lastRead time.Time // wall time of the latest record with an arrival age
	lastLive time.Time // wall time of the latest one that arrived fresh
	lastAge  time.Duration
	maxTS    int64 // latest event time read, Unix ms; 0 = none yet
	next     int64 // offset after the last record read
	target   int64 // end (last stable) offset when assigned: catching up until reached
	caught   bool  // target reached once
	end      int64 // latest end seen in a fetch
}

// Watermark tracks the partitions of one assignment.
type Watermark struct {
	idleLag   time.Duration
	replayAge time.Duration
	skew      time.Duration
	parts     map[TP]*part
	now       time.Time
}

// New returns a clock with no partitions. idleLag is how far behind the
// wall clock it stands when the inputs are idle; skew how far ahead of the
// wall clock an event time may count.
func New(idleLag, skew time.Duration) *Watermark {
	return &Watermark{idleLag: idleLag, skew: skew, parts: map[TP]*part{}}
}

// DetectReplay makes the clock tell when a source is sending history (see
// Replaying): events that arrive more than age after they happened are old
// news. Zero turns it off.
func (w *Watermark) DetectReplay(age time.Duration) { w.replayAge = age }

// Assign adds a partition read from offset start, whose end at assignment
// is target.
func (w *Watermark) Assign(tp TP, start, target int64) {
	w.parts[tp] = &part{next: start, target: target, end: target, caught: start >= target}
}

// Observe records a record read from tp: its offset and event time (zero
// for a control record, which only moves the offset).
func (w *Watermark) Observe(tp TP, offset int64, ts time.Time, wall time.Time) {
	p := w.parts[tp]
	if p == nil {
		return
	}
	if offset >= p.next {
		p.next = offset + 1
	}
	if p.next >= p.target {
		p.caught = true
	}
	if !ts.IsZero() {
		ms := ts.UnixMilli()
		if lim := wall.Add(w.skew).UnixMilli(); ms > lim {
			ms = lim
		}
		if ms > p.maxTS {
			p.maxTS = ms
		}
	}
}

// End records the end offset a fetch reported for tp.
func (w *Watermark) End(tp TP, end int64) {
	if p := w.parts[tp]; p != nil && end > p.end {
		p.end = end
	}
}

// CaughtUp reports whether every partition has reached the end it had when
// it was assigned: the history is read, the state is current.
func (w *Watermark) CaughtUp() bool {
	for _, p := range w.parts {
		if !p.caught {
			return false
		}
	}
	return true
}

// Behind lists the partitions still catching up, for logs.
func (w *Watermark) Behind() []TP {
	var out []TP
	for tp, p := range w.parts {
		if !p.caught {
			out = append(out, tp)
		}
	}
	sortTPs(out)
	return out
}

func sortTPs(tps []TP) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// Now is event time at wall-clock instant wall: the earliest latest-event
// time of the partitions behind their end, else wall minus the idle lag;
// never earlier than before. It is zero until every partition that is
// behind has given an event time.
func (w *Watermark) Now(wall time.Time) time.Time {
	cand := wall.Add(-w.idleLag)
	for _, p := range w.parts {
		if p.caught && p.next >= p.end {
			continue
		}
		if p.maxTS == 0 {
			return w.now // behind, and nothing known of where it is
		}
		if t := time.UnixMilli(p.maxTS); t.Before(cand) {
			cand = t
		}
	}
	if cand.After(w.now) {
		w.now = cand.UTC()
	}
	return w.now
}

// Arrived records how long after it happened a record of tp arrived (a raw
// event's receipt time minus its own time); only records whose arrival age
// is known are counted.
func (w *Watermark) Arrived(tp TP, age time.Duration, wall time.Time) {
	p := w.parts[tp]
	if p == nil || w.replayAge <= 0 {
		return
	}
	p.lastRead, p.lastAge = wall, age
	if age <= w.replayAge {
		p.lastLive = wall
	}
}

// Replaying reports a partition whose records of the last idle lag all
// arrived long after they happened: a source is sending history (an import,
// a backfill, a vendor's retry queue draining). Verdicts on such input
// would be about the past and read as live, so the alerter withholds them
// until fresh events flow again. It returns the partition and the age of
// its latest record.
func (w *Watermark) Replaying(wall time.Time) (TP, time.Duration, bool) {
	if w.replayAge <= 0 {
		return TP{}, 0, false
	}
	window := max(w.idleLag, time.Second)
	var first TP
	var age time.Duration
	found := false
	for tp, p := range w.parts { // the first by name, so logs are stable
		if wall.Sub(p.lastRead) < window && wall.Sub(p.lastLive) >= window &&
			(!found || tp.Topic < first.Topic || tp.Topic == first.Topic && tp.Partition < first.Partition) {
			first, age, found = tp, p.lastAge, true
		}
	}
	return first, age, found
}
