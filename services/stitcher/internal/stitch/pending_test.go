package stitch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

// changelog is a compacted changelog: the latest value of every key.
type changelog map[string][]byte

func (c changelog) apply(cs []StateChange) {
	for _, ch := range cs {
		if ch.Value == nil {
			delete(c, ch.Key) // compaction
		} else {
			c[ch.Key] = ch.Value
		}
	}
}

// restore reads the changelog back in key order, as the stitcher does.
func (c changelog) restore(t *testing.T, rules Rules) *Set {
	t.Helper()
	r := NewSet(rules)
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := r.Restore(k, c[k]); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (c changelog) count(part string) int {
	n := 0
	for k := range c {
		if strings.Contains(k, part) {
			n++
		}
	}
	return n
}

// countKeys counts the changes whose key holds part: written and tombstones.
func countKeys(cs []StateChange, part string) (written, tombs int) {
	for _, c := range cs {
		switch {
		case !strings.Contains(c.Key, part):
		case c.Value == nil:
			tombs++
		default:
			written++
		}
	}
	return written, tombs
}

func waitingEvent(i int) event.Envelope {
	return event.Envelope{V: 1, ID: fmt.Sprintf("e%05d", i), Tenant: "t", Account: "a", Source: "api", Type: event.TypePageview,
		ClientID: fmt.Sprintf("c%d", i%50), URL: "https://s.ru/?p=" + strings.Repeat("x", 400), TS: t0 + int64(i%997), ReceivedAt: t0 + int64(i%997)}
}

// TestPendingRecords: every event waiting for the watermark is a changelog
// record of its own, written once when it starts waiting and tombstoned
// once when it is applied — a transaction's changelog grows with the
// events it took, not with how many wait (a busy account's transactions
// used to rewrite all of them each time); the state restored from the
// changelog is the same at every step.
func TestPendingRecords(t *testing.T) {
	rules := DefaultRules()
	rules.Lateness = time.Hour // everything waits
	s := NewSet(rules)
	const n = 3000
	for i := range n {
		if recs := s.Add(waitingEvent(i)); len(recs) != 0 {
			t.Fatalf("event %d applied before the watermark", i)
		}
	}
	s.Add(waitingEvent(7)) // a retried delivery: waits once
	log := changelog{}
	cs := s.TakeChanges()
	if w, tombs := countKeys(cs, "t/a/w/"); w != n || tombs != 0 {
		t.Fatalf("first changes: %d pending records written, %d tombstones; want %d, 0", w, tombs, n)
	}
	if w, _ := countKeys(cs, "t/a/m"); w != 1 {
		t.Fatalf("%d meta records, want 1", w)
	}
	log.apply(cs)
	orig := s.Accounts()[0]
	check := func(step string) {
		t.Helper()
		got := log.restore(t, rules).Accounts()[0]
		if got.Pending()+orig.Pending() > 0 && !reflect.DeepEqual(got.meta.Pending, orig.meta.Pending) {
			t.Fatalf("%s: restored %d pending events, want %d", step, got.Pending(), orig.Pending())
		}
		if got.meta.MaxTS != orig.meta.MaxTS || got.meta.Seq != orig.meta.Seq {
			t.Fatalf("%s: restored max ts %d seq %d, want %d %d", step, got.meta.MaxTS, got.meta.Seq, orig.meta.MaxTS, orig.meta.Seq)
		}
	}
	check("all waiting")

	// One more waiting event: the meta and that one event.
	s.Add(waitingEvent(n))
	cs = s.TakeChanges()
	if w, tombs := countKeys(cs, "t/a/w/"); w != 1 || tombs != 0 || len(cs) != 2 {
		t.Fatalf("one more event: %d changes, %d pending written, %d tombstones; want 2, 1, 0", len(cs), w, tombs)
	}
	log.apply(cs)
	check("one more")

	// A late event moves the watermark past all but the newest: each event
	// applied is tombstoned, the late one written.
	before := orig.Pending()
	late := time.Hour.Milliseconds() + 996
	s.Add(event.Envelope{V: 1, ID: "late", Tenant: "t", Account: "a", Source: "api", Type: event.TypePageview, ClientID: "c1",
		URL: "https://s.ru/", TS: t0 + late, ReceivedAt: t0 + late})
	released := before + 1 - orig.Pending()
	if released < n-10 {
		t.Fatalf("%d of %d events applied", released, before)
	}
	cs = s.TakeChanges()
	if w, tombs := countKeys(cs, "t/a/w/"); w != 1 || tombs != released {
		t.Fatalf("after the watermark moved: %d pending written, %d tombstones; want 1, %d", w, tombs, released)
	}
	log.apply(cs)
	if got := log.count("/w/"); got != orig.Pending() {
		t.Fatalf("%d pending records left in the changelog, want %d", got, orig.Pending())
	}
	check("watermark moved")

	// Events that start and stop waiting between two takes never reach it.
	written := orig.Pending()
	s.Add(event.Envelope{V: 1, ID: "brief", Tenant: "t", Account: "a", Source: "api", Type: event.TypePageview, ClientID: "c2",
		URL: "https://s.ru/", TS: t0 + late + 1, ReceivedAt: t0 + late + 1})
	s.Flush()
	cs = s.TakeChanges()
	if w, tombs := countKeys(cs, "t/a/w/"); w != 0 || tombs != written {
		t.Fatalf("after a flush: %d pending written, %d tombstones; want 0, %d (the brief event never written)", w, tombs, written)
	}
	log.apply(cs)
	if got := log.count("/w/"); got != 0 {
		t.Fatalf("%d pending records left after a flush", got)
	}
	check("flushed")
}

// TestPendingFormerFormat: a changelog written before pending events were
// records of their own (inline in the meta, or in chunk records "q/<i>")
// restores the same events; the account's next changes rewrite them as
// records of their own and tombstone the chunks, and that changelog
// restores the same state again.
func TestPendingFormerFormat(t *testing.T) {
	rules := DefaultRules()
	rules.Lateness = time.Hour
	for _, chunks := range []int{0, 3} { // 0: inline in the meta
		t.Run(fmt.Sprintf("chunks=%d", chunks), func(t *testing.T) {
			const n = 30
			var pending []event.Envelope
			for i := range n {
				pending = insertPending(pending, waitingEvent(i))
			}
			m := Meta{Seq: 4, MaxTS: t0 + 996}
			log := changelog{}
			if chunks == 0 {
				m.Pending = pending
			} else {
				m.PendingChunks = chunks
				per := (n + chunks - 1) / chunks
				for i := range chunks {
					b, _ := json.Marshal(pending[i*per : min((i+1)*per, n)])
					log["t/a/q/"+fmt.Sprint(i)] = b
				}
				log["t/a/q/"+fmt.Sprint(chunks)] = []byte(`[]`) // a stale chunk past PendingChunks
			}
			b, _ := json.Marshal(&m)
			log["t/a/m"] = b
			s := log.restore(t, rules)
			a := s.Accounts()[0]
			if !reflect.DeepEqual(a.meta.Pending, pending) {
				t.Fatalf("restored %d pending events, want %d", a.Pending(), n)
			}
			s.Add(waitingEvent(n))
			cs := s.TakeChanges()
			w, _ := countKeys(cs, "t/a/w/")
			_, tombs := countKeys(cs, "t/a/q/")
			if w != n+1 {
				t.Fatalf("%d pending records written, want %d", w, n+1)
			}
			if wantTombs := map[int]int{0: 0, 3: chunks + 1}[chunks]; tombs != wantTombs {
				t.Fatalf("%d chunks tombstoned, want %d", tombs, wantTombs)
			}
			log.apply(cs)
			if got := log.count("/q/"); got != 0 {
				t.Fatalf("%d chunk records left", got)
			}
			var meta Meta
			if err := json.Unmarshal(log["t/a/m"], &meta); err != nil || len(meta.Pending) != 0 || meta.PendingChunks != 0 {
				t.Fatalf("meta still holds pending events: %s (%v)", log["t/a/m"], err)
			}
			if got := log.restore(t, rules).Accounts()[0]; !reflect.DeepEqual(got.meta.Pending, a.meta.Pending) || got.Pending() != n+1 {
				t.Fatalf("restored %d pending events after the rewrite, want %d", got.Pending(), n+1)
			}
		})
	}
}
