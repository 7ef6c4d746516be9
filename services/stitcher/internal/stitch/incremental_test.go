package stitch

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

// TestIncrementalMatchesFull feeds the same events, some of them later than
// the lateness (re-cutting sessions, landing before leads and calls), to a
// set that derives incrementally and to one that derives every change in
// full: after every event both must give byte-identical records, versions
// included, and identical changelog records. Halfway the incremental set is
// restored from its changelog, as after a restart (its persons are then
// derived in full once).
func TestIncrementalMatchesFull(t *testing.T) {
	rules := DefaultRules()
	for seed := range uint64(3) {
		evs := stream(seed, 3, 3000)
		rng := rand.New(rand.NewPCG(seed, 17))
		for i := range evs { // web-analytics ids on some visitors' hits, and calls reporting them
			switch e := &evs[i]; {
			case e.ClientID != "" && e.Type == event.TypePageview && rng.IntN(3) == 0:
				e.YMClientID = "17" + e.ClientID[1:]
				if rng.IntN(40) == 0 { // the Metrica cookie changed
					e.YMClientID += "9"
				}
			case e.Call != nil && len(e.Call.ClientIDs) > 0 && rng.IntN(2) == 0:
				e.Call.ClientIDs = []string{"ym:17" + e.Call.ClientIDs[0][1:]}
			}
		}
		for range len(evs) / 20 { // some events days late
			i, j := rng.IntN(len(evs)), rng.IntN(len(evs))
			evs[i], evs[j] = evs[j], evs[i]
		}
		inc, full := NewSet(rules), NewSet(rules)
		full.full = true
		changelog := map[string][]byte{}
		for i, e := range evs {
			got, want := inc.Add(e), full.Add(e)
			if g, w := encodeRecords(t, got), encodeRecords(t, want); !bytes.Equal(g, w) {
				t.Fatalf("seed %d event %d (%s %s): incremental records\n%s\nfull derivation\n%s", seed, i, e.Type, e.ID, g, w)
			}
			gc, wc := inc.TakeChanges(), full.TakeChanges()
			if g, w := encodeChanges(t, gc), encodeChanges(t, wc); !bytes.Equal(g, w) {
				t.Fatalf("seed %d event %d (%s %s): incremental changelog differs from full derivation's", seed, i, e.Type, e.ID)
			}
			for _, c := range gc {
				changelog[c.Key] = c.Value
			}
			if i == len(evs)/2 {
				inc = restoreSet(t, rules, changelog)
			}
		}
		if g, w := encodeRecords(t, inc.Flush()), encodeRecords(t, full.Flush()); !bytes.Equal(g, w) {
			t.Fatalf("seed %d: flushed records differ", seed)
		}
		hits, shortcuts := 0, 0
		for _, a := range inc.Accounts() {
			hits += int(a.hits)
			shortcuts += int(a.shortcuts)
		}
		// About half the hits of this stream are a client's first (a new
		// person, derived in full: it has nothing else to derive); most
		// others extend a session or start one after the person's last
		// lead and call.
		if shortcuts < hits/4 {
			t.Errorf("seed %d: %d of %d hits (since the restore) derived incrementally, want at least a quarter", seed, shortcuts, hits)
		}
		t.Logf("seed %d: %d of %d hits derived incrementally", seed, shortcuts, hits)
	}
}

func encodeRecords(t *testing.T, recs []Record) []byte {
	t.Helper()
	var b []byte
	for _, r := range recs {
		v, err := json.Marshal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(append(b, r.Kind+" "+r.ID+" "...), v...), '\n')
	}
	return b
}

func encodeChanges(t *testing.T, cs []StateChange) []byte {
	t.Helper()
	var b []byte
	for _, c := range cs {
		b = append(append(append(append(b, c.Key...), ' '), c.Value...), '\n')
	}
	return b
}

func restoreSet(t *testing.T, rules Rules, changelog map[string][]byte) *Set {
	t.Helper()
	s := NewSet(rules)
	for _, k := range sortedKeys(changelog) {
		if err := s.Restore(k, changelog[k]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
