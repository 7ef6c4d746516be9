package stitch

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

// TestPendingChunks: an account whose events waiting for the watermark pass
// StateChunkBytes writes them in chunk records, none larger than the bound;
// the state restored from them is the same, and chunks no longer needed are
// tombstoned.
func TestPendingChunks(t *testing.T) {
	rules := DefaultRules()
	rules.Lateness = time.Hour // everything waits
	s := NewSet(rules)
	pad := strings.Repeat("x", 400)
	const n = 3000
	for i := range n {
		e := event.Envelope{V: 1, ID: fmt.Sprintf("e%05d", i), Tenant: "t", Account: "a", Source: "api", Type: event.TypePageview,
			ClientID: fmt.Sprintf("c%d", i%50), URL: "https://s.ru/?p=" + pad, TS: t0 + int64(i%997), ReceivedAt: t0 + int64(i%997)}
		if recs := s.Add(e); len(recs) != 0 {
			t.Fatalf("event %d applied before the watermark", i)
		}
	}
	changelog := map[string][]byte{}
	apply := func(cs []StateChange) {
		for _, c := range cs {
			if c.Value == nil {
				delete(changelog, c.Key) // compaction
			} else {
				changelog[c.Key] = c.Value
			}
		}
	}
	restored := func() *Account {
		r := NewSet(rules)
		keys := make([]string, 0, len(changelog))
		for k := range changelog {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := r.Restore(k, changelog[k]); err != nil {
				t.Fatal(err)
			}
		}
		return r.Accounts()[0]
	}
	cs := s.TakeChanges()
	chunks := 0
	for _, c := range cs {
		if len(c.Value) > StateChunkBytes {
			t.Errorf("%s: %d bytes, more than %d", c.Key, len(c.Value), StateChunkBytes)
		}
		if strings.HasPrefix(c.Key, "t/a/q/") {
			chunks++
		}
	}
	if chunks < 5 { // n × ~500 bytes
		t.Fatalf("%d chunk records for %d pending events of ~500 bytes", chunks, n)
	}
	apply(cs)
	orig := s.Accounts()[0]
	if got := restored(); !reflect.DeepEqual(got.meta.Pending, orig.meta.Pending) || got.chunks != chunks {
		t.Fatalf("restored %d pending events (%d chunks), want %d (%d)", got.Pending(), got.chunks, orig.Pending(), chunks)
	}

	// A late event moves the watermark past all but a few: they fit inline,
	// and every chunk is tombstoned.
	s.Add(event.Envelope{V: 1, ID: "late", Tenant: "t", Account: "a", Source: "api", Type: event.TypePageview, ClientID: "c1",
		URL: "https://s.ru/", TS: t0 + 996 + time.Hour.Milliseconds(), ReceivedAt: t0 + 996 + time.Hour.Milliseconds()})
	if orig.Pending() >= n/100 {
		t.Fatalf("%d events still pending", orig.Pending())
	}
	cs = s.TakeChanges()
	tombs := 0
	for _, c := range cs {
		if strings.HasPrefix(c.Key, "t/a/q/") {
			if c.Value != nil {
				t.Fatalf("chunk %s written for %d pending events", c.Key, orig.Pending())
			}
			tombs++
		}
	}
	if tombs != chunks {
		t.Fatalf("%d chunks tombstoned, want %d", tombs, chunks)
	}
	apply(cs)
	for k := range changelog {
		if strings.Contains(k, "/q/") {
			t.Fatalf("chunk %s left in the changelog", k)
		}
	}
	if got := restored(); !reflect.DeepEqual(got.meta.Pending, orig.meta.Pending) {
		t.Fatalf("restored %d pending events, want %d", got.Pending(), orig.Pending())
	}
}
