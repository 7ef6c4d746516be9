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
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	age := 200 * time.Millisecond
	cases := []struct {
		name    string
		planned []offsetRange
		offsets []int64
		now     time.Duration
		final   bool
		want    string
	}{
		{name: "young and small waits", offsets: span(0, 8), now: 10 * time.Millisecond, want: ""},
		{name: "old enough flushes", offsets: span(0, 8), now: age, want: "0-8/9"},
		{name: "full flushes at once", offsets: span(0, 24), want: "0-9/10 10-19/10"},
		{name: "final flushes the rest", offsets: span(0, 24), final: true, want: "0-9/10 10-19/10 20-24/5"},
		{name: "recorded range is re-formed before a bigger batch", planned: []offsetRange{{0, 4}},
			offsets: span(0, 8), now: age, want: "0-4/5r 5-8/4"},
		{name: "recorded ranges larger than max rows are kept whole", planned: []offsetRange{{0, 14}, {15, 16}},
			offsets: span(0, 20), want: "0-14/15r 15-16/2r"},
		{name: "incomplete recorded range waits, even at shutdown", planned: []offsetRange{{0, 14}},
			offsets: span(0, 9), now: time.Hour, final: true, want: ""},
		{name: "gaps in offsets (transaction markers) stay inside the range", planned: []offsetRange{{0, 9}},
			offsets: []int64{0, 2, 4, 9, 11}, now: age, want: "0-9/4r 11-11/1"},
		{name: "records before a recorded range form their own batch", planned: []offsetRange{{5, 6}},
			offsets: span(2, 7), now: age, want: "2-4/3 5-6/2r 7-7/1"},
		{name: "a range whose records are gone is dropped", planned: []offsetRange{{0, 3}},
			offsets: span(5, 6), now: age, want: "5-6/2"},
		{name: "a range cut at its start keeps its token", planned: []offsetRange{{0, 6}},
			offsets: span(3, 8), now: age, want: "0-6/4r 7-8/2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPartState(&sink{}, 0)
			p.loaded, p.planned = true, c.planned
			p.add(recs(c.offsets...), 100, t0)
			got := describe(p.take(t0.Add(c.now), 10, age, c.final))
			if got != c.want {
				t.Fatalf("got %q want %q", got, c.want)
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
	p.planned = []offsetRange{{10, 20}}
	if _, ok := p.due(time.Second); ok {
		t.Fatal("a recorded range waiting for its records is due by age")
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
	if got := describe(l.takeDue(later, true, false)); got != "0-9/10" {
		t.Fatalf("busy: got %q, want only the full batch", got)
	}
	p.add(recs(span(15, 16)...), 100, later)
	if got := describe(l.takeDue(later, true, true)); got != "10-16/7" {
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
