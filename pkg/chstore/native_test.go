package chstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestNativeStringForms inserts strings given as string, []byte and *string,
// across chunk boundaries, and reads them back.
func TestNativeStringForms(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	table := freshTable(t, s, "k UInt32, s String, lc LowCardinality(String), m Map(LowCardinality(String), String)")
	b, err := s.PrepareInsert(ctx, table, []Column{{"k", "UInt32"}, {"s", "String"}, {"lc", "LowCardinality(String)"},
		{"m", "Map(LowCardinality(String), String)"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{}
	for i := 0; i < 3000; i++ {
		v := fmt.Sprintf("%d-%s", i, strings.Repeat("x", i%700))
		if i == 1500 {
			v = strings.Repeat("y", 3<<20) // larger than a chunk
		}
		want[i] = v
		var sv any
		switch i % 3 {
		case 0:
			sv = v
		case 1:
			sv = []byte(v)
		default:
			sv = &v
		}
		if err := b.Append(uint32(i), sv, &v, map[string]string{"k": v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Append(uint32(0), 42, "x", map[string]string{}); err == nil {
		t.Fatal("a number was accepted for a String column")
	}
	if err := b.Send(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := s.Query(ctx, "SELECT k, s, lc, m['k'] FROM "+table+" ORDER BY k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(want) {
		t.Fatalf("%d rows back, want %d (a failed Append must not add a row)", len(res.Rows), len(want))
	}
	for _, r := range res.Rows {
		var k int
		fmt.Sscan(fmt.Sprint(r[0]), &k)
		for c := 1; c <= 3; c++ {
			if r[c] != want[k] {
				t.Fatalf("row %d column %d: got %.40q want %.40q", k, c, r[c], want[k])
			}
		}
	}
}
