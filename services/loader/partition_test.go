package loader

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func recs(offsets ...int64) []*kgo.Record {
	out := make([]*kgo.Record, len(offsets))
	for i, o := range offsets {
		out[i] = &kgo.Record{Offset: o}
	}
	return out
}

func span(from, to int64) []int64 {
	var out []int64
	for o := from; o <= to; o++ {
		out = append(out, o)
	}
	return out
}

func describe(bs []*batch) string {
	var parts []string
	for _, b := range bs {
		tag := ""
		if b.recorded {
			tag = "r"
		}
		parts = append(parts, fmt.Sprintf("%d-%d/%d%s", b.rng.first, b.rng.last, len(b.recs), tag))
	}
	return strings.Join(parts, " ")
}

func TestTakeFormsBatches(t *testing.T) {
	cases := []struct {
		name    string
		offsets []int64
		want    string
	}{
		{name: "small", offsets: span(0, 8), want: "0-8/9"},
		{name: "cut by max rows", offsets: span(0, 24), want: "0-9/10 10-19/10 20-24/5"},
		{name: "gaps in offsets (transaction markers) stay inside the range", offsets: []int64{0, 2, 4, 9, 11}, want: "0-11/5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPartState(&sink{}, 0)
			p.add(recs(c.offsets...), 100, time.Now())
			if got := describe(p.take(10)); got != c.want {
				t.Fatalf("got %q want %q", got, c.want)
			}
			if len(p.recs) != 0 {
				t.Fatalf("%d records left", len(p.recs))
			}
		})
	}
}

func TestDueAndLag(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newPartState(&sink{}, 0)
	if _, ok := p.due(time.Second); ok {
		t.Fatal("empty partition is due")
	}
	p.add(recs(10, 11), 50, t0)
	if due, ok := p.due(time.Second); !ok || !due.Equal(t0.Add(time.Second)) {
		t.Fatalf("due %v %v", due, ok)
	}
	if lag := p.lag(); lag != 40 {
		t.Fatalf("lag %d want 40", lag)
	}
}

// describeTables lists a round's batches per table, in partition order.
func describeTables(bs []*batch) string {
	var out []string
	for _, f := range tableFlushes(bs) {
		var parts []string
		for _, b := range f.batches {
			parts = append(parts, fmt.Sprintf("%d:%d-%d", b.part.partition, b.rng.first, b.rng.last))
		}
		out = append(out, f.sink.Table+"["+strings.Join(parts, " ")+"]")
	}
	return strings.Join(out, " ")
}

// TestTakeDueCutsWholeTables: a table is due when one of its partitions is
// (full, or old enough); then every partition of it is cut, into one
// flush; a table half-way to its age goes along; a table not due waits.
func TestTakeDueCutsWholeTables(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	age := time.Second
	l := &Loader{cfg: Config{MaxRows: 10, MaxAge: age, QuietMaxAge: 5 * time.Second}, parts: map[tp]*partState{}}
	events, sessions, quiet := &sink{Sink: Sink{Topic: "raw", Table: "events"}}, &sink{Sink: Sink{Topic: "s", Table: "sessions"}},
		&sink{Sink: Sink{Topic: "c", Table: "costs", Quiet: true}}
	add := func(s *sink, part int32, at time.Time, offsets ...int64) {
		p := l.parts[tp{s.Topic, part}]
		if p == nil {
			p = newPartState(s, part)
			p.loaded = true
			l.parts[tp{s.Topic, part}] = p
		}
		p.add(recs(offsets...), offsets[len(offsets)-1]+1, at)
	}
	add(events, 0, t0, 0, 1)
	add(events, 1, t0.Add(900*time.Millisecond), 5)
	add(sessions, 3, t0.Add(400*time.Millisecond), 7)
	add(sessions, 4, t0.Add(600*time.Millisecond), 8)
	add(quiet, 0, t0, 3)
	if got := describeTables(l.takeDue(t0.Add(500*time.Millisecond), false, false)); got != "" {
		t.Fatalf("nothing old enough: got %q", got)
	}
	// events' partition 0 is a second old: all of events goes, and sessions
	// (600 ms, past half its age) with it; costs (1 s of its 5 s) waits.
	if got, want := describeTables(l.takeDue(t0.Add(age), false, false)), "events[0:0-1 1:5-5] sessions[3:7-7 4:8-8]"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	add(events, 2, t0.Add(age), span(10, 19)...)
	if got, want := describeTables(l.takeDue(t0.Add(age), false, false)), "events[2:10-19]"; got != want {
		t.Fatalf("a full batch: got %q want %q", got, want)
	}
	if got, want := describeTables(l.takeDue(t0.Add(5*time.Second), false, false)), "costs[0:3-3]"; got != want {
		t.Fatalf("quiet table at its own age: got %q want %q", got, want)
	}
}

// TestTakeDueHoldsWhileBusy: while the inserter is busy, a partition with
// more records in Kafka is cut only when full — the rest waits for the
// inserter, growing, unless the loader is stopping; a caught-up one is cut by
// age. While it is idle, a partition more than a batch behind is not held.
func TestTakeDueHoldsWhileBusy(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &Loader{cfg: Config{MaxRows: 10, MaxAge: 200 * time.Millisecond}, parts: map[tp]*partState{}}
	p := newPartState(&sink{}, 0)
	p.loaded = true
	l.parts[tp{"t", 0}] = p
	p.add(recs(span(0, 14)...), 100, t0)
	later := t0.Add(time.Second)
	if got := describe(l.takeDue(later, true, false)); got != "0-9/10 10-14/5" {
		t.Fatalf("busy, full: got %q, want everything cut", got)
	}
	p.add(recs(span(15, 16)...), 100, later)
	if got := describe(l.takeDue(later.Add(time.Hour), true, false)); got != "" {
		t.Fatalf("busy, behind: got %q, want it held", got)
	}
	if got := describe(l.takeDue(later, true, true)); got != "15-16/2" {
		t.Fatalf("busy at shutdown: got %q, want the rest", got)
	}
	p.add(recs(span(17, 18)...), 20, t0)
	if got := describe(l.takeDue(t0, false, false)); got != "" {
		t.Fatalf("idle, young, not behind: got %q, want nothing", got)
	}
	if got := describe(l.takeDue(later, false, false)); got != "17-18/2" {
		t.Fatalf("idle: got %q, want the batch due by age", got)
	}
	p.add(recs(span(19, 20)...), 100, t0)
	if got := describe(l.takeDue(t0, false, false)); got != "19-20/2" {
		t.Fatalf("idle, young, %d behind: got %q, want it cut at once", p.behind(), got)
	}
	p.add(recs(span(21, 22)...), 23, t0)
	if got := describe(l.takeDue(later, true, false)); got != "21-22/2" {
		t.Fatalf("busy, caught up: got %q, want the batch due by age", got)
	}
}

// TestEachRowKeepsRecordOrder: rows decoded ahead on several goroutines
// still reach the insert in record order, each with its own error.
func TestEachRowKeepsRecordOrder(t *testing.T) {
	s := &sink{Sink: Sink{Row: func(rec *kgo.Record) ([]any, error) {
		if rec.Offset%7 == 0 {
			return nil, fmt.Errorf("bad %d", rec.Offset)
		}
		return []any{rec.Offset}, nil
	}}}
	for _, workers := range []int{1, 2, 5} {
		for _, n := range []int{0, 1, decodeChunk, 10*decodeChunk + 3} {
			l := &Loader{cfg: Config{Workers: workers}}
			var got []int64
			l.eachRow(s, recs(span(0, int64(n)-1)...), func(rec *kgo.Record, row []any, err error) {
				if (err != nil) != (rec.Offset%7 == 0) || (err == nil && row[0] != rec.Offset) {
					t.Fatalf("workers %d: offset %d got row %v err %v", workers, rec.Offset, row, err)
				}
				got = append(got, rec.Offset)
			})
			for i, o := range got {
				if o != int64(i) {
					t.Fatalf("workers %d, %d records: position %d holds offset %d", workers, n, i, o)
				}
			}
			if len(got) != n {
				t.Fatalf("workers %d: %d rows for %d records", workers, len(got), n)
			}
		}
	}
}
