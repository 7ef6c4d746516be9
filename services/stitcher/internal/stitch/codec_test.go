package stitch

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/throughline/throughline/services/stitcher/internal/lead"
)

// persons are the persons of a domain run over a stream with merges, calls,
// contacts and deals.
func persons(t testing.TB, seed uint64) []*Person {
	s := NewSet(DefaultRules())
	for _, e := range stream(seed, 3, 3000) {
		s.Add(e)
	}
	s.Flush()
	var out []*Person
	for _, a := range s.Accounts() {
		for _, id := range sortedKeys(a.persons) {
			out = append(out, a.persons[id])
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d persons", len(out))
	}
	return out
}

func jsonOf(t testing.TB, p *Person) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPersonCodecRoundTrip: a person read back from its binary value is the
// person that was written (compared through the JSON form, which has every
// field).
func TestPersonCodecRoundTrip(t *testing.T) {
	var calls, deals, merged int
	for _, p := range persons(t, 5) {
		v := encodePerson(nil, p)
		q := newPerson(p.ID)
		if err := decodePerson(v, q); err != nil {
			t.Fatalf("person %s: %v", p.ID, err)
		}
		if w, g := jsonOf(t, p), jsonOf(t, q); !bytes.Equal(w, g) {
			t.Fatalf("person %s read back differently:\n got %s\nwant %s", p.ID, g, w)
		}
		if !bytes.Equal(encodePerson(nil, q), v) {
			t.Fatalf("person %s: re-encoding changes the bytes", p.ID)
		}
		if len(v) >= len(jsonOf(t, p)) {
			t.Errorf("person %s: binary %d bytes, JSON %d", p.ID, len(v), len(jsonOf(t, p)))
		}
		calls += len(p.Calls)
		deals += len(p.Deals)
		if len(p.Clients) > 1 {
			merged++
		}
	}
	if calls == 0 || deals == 0 || merged == 0 {
		t.Fatalf("stream lacks calls (%d), deals (%d) or merged persons (%d)", calls, deals, merged)
	}
}

// TestRestoreFromJSONChangelog: a changelog written by a version that kept
// persons as JSON is read, and the state continues exactly like the state
// that was never interrupted.
func TestRestoreFromJSONChangelog(t *testing.T) {
	rules := DefaultRules()
	evs := stream(4, 3, 2000)
	want := byAccount(run(rules, evs))

	s := NewSet(rules)
	var recs []Record
	changelog := map[string][]byte{}
	for i, e := range evs {
		recs = append(recs, s.Add(e)...)
		if i%89 != 0 {
			continue
		}
		for _, c := range s.TakeChanges() {
			v := c.Value
			if v != nil && strings.Contains(c.Key, "/p/") && i%2 == 0 { // old and new forms side by side
				p := newPerson("")
				if err := decodePerson(v, p); err != nil {
					t.Fatal(err)
				}
				v = jsonOf(t, p)
			}
			changelog[c.Key] = v
		}
		s = NewSet(rules)
		keys := make([]string, 0, len(changelog))
		for k := range changelog {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := s.Restore(k, changelog[k]); err != nil {
				t.Fatal(err)
			}
		}
	}
	recs = append(recs, s.Flush()...)
	got := byAccount(recs)
	for acc, w := range want {
		if !bytes.Equal(w, got[acc]) {
			t.Fatalf("account %s: state restored from JSON values continues differently", acc)
		}
	}
}

// FuzzDecodePerson: any input is rejected or read into a person whose
// encoding reads back the same.
func FuzzDecodePerson(f *testing.F) {
	for i, p := range persons(f, 6) {
		if i%40 == 0 {
			f.Add(encodePerson(nil, p))
		}
	}
	f.Add([]byte{personFormatV1})
	f.Add([]byte(`{"id":"x","keys":["c:1"]}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		p := newPerson("")
		if err := decodePerson(v, p); err != nil {
			return
		}
		if p.Emitted == nil { // as Restore does after JSON (AttrRows stays nil until a lead)
			return
		}
		b := encodePerson(nil, p)
		q := newPerson("")
		if err := decodePerson(b, q); err != nil {
			t.Fatalf("re-encoded value rejected: %v", err)
		}
		if !bytes.Equal(encodePerson(nil, q), b) {
			t.Fatal("re-encoded value reads back differently")
		}
	})
}

// TestPersonCodecKeepsUnits: a deal change's units (format 2) survive the
// changelog, fractions included.
func TestPersonCodecKeepsUnits(t *testing.T) {
	p := newPerson("p1")
	p.Deals = map[string]*lead.Deal{"generic:D1": {Provider: "generic", CRMID: "D1", Changes: []lead.Change{
		{At: 100, TS: 101, EventID: "e1", Outcome: lead.Won, Amount: 500, Units: 2.5},
		{At: 200, TS: 201, EventID: "e2", Stage: "shipped"},
	}}}
	q := newPerson("p1")
	if err := decodePerson(encodePerson(nil, p), q); err != nil {
		t.Fatal(err)
	}
	if got := q.Deals["generic:D1"].State().Units; got != 2.5 {
		t.Fatalf("units read back %v, want 2.5", got)
	}
}
