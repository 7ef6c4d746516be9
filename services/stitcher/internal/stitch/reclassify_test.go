package stitch

import (
	"bytes"
	"testing"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
)

// TestRestatement: state stitched under old rules, restored under new ones,
// then given the hits again as restatement records, ends with the same
// latest entities as stitching everything under the new rules from the
// start — sessions re-cut, the lead's channel and its attribution follow —
// with versions that only grow; a second restatement emits nothing.
func TestRestatement(t *testing.T) {
	oldRules := DefaultRules()
	var err error
	// Rules that know nothing: every referrer is a referral.
	if oldRules.Catalog, err = channel.NewCatalog(map[string]channel.Rules{"acme": {Replace: true}}); err != nil {
		t.Fatal(err)
	}
	newRules := DefaultRules()

	evs := []event.Envelope{
		hit("h1", "c1", 0, "https://shop.example.ru/", "https://www.google.com/"),
		hit("h2", "c1", 5*minute, "https://shop.example.ru/cart", "https://blog.example.ru/"), // internal under the new rules
		hit("h3", "c1", 2*day, "https://shop.example.ru/?utm_medium=email", ""),
		ev("h4", event.TypeGoal, 2*day+minute, func(e *event.Envelope) {
			e.Name, e.ClientID, e.URL, e.Phone = "form_submit", "c1", "https://shop.example.ru/contacts", "+79161234567"
		}),
		hit("h5", "c2", 0, "https://shop.example.ru/", "https://chatgpt.com/"),
	}
	evs[2].UTM.Medium = "email"

	// Stitched under the old rules.
	before := NewSet(oldRules)
	var recs []Record
	for _, e := range evs {
		recs = append(recs, before.Add(e)...)
	}
	recs = append(recs, before.Flush()...)
	if got := channels(final(t, recs)); got != "referral,referral,tagged_other" {
		t.Fatalf("old rules: sessions %s", got)
	}

	// The new rules take over the state; the restatement sends the hits again.
	after := NewSet(newRules)
	for _, a := range before.Accounts() {
		for _, c := range a.Snapshot() {
			if err := after.Restore(c.Key, c.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	restated := restatements(evs)
	for _, e := range restated {
		recs = append(recs, after.Add(e)...)
	}
	got := final(t, recs) // fails on a version that does not grow
	if ch := channels(got); ch != "ai_assistant,organic,email" {
		t.Errorf("restated: sessions %s, want ai_assistant,organic,email", ch)
	}
	fresh := final(t, run(newRules, evs))
	if a, b := stripVersions(got), stripVersions(fresh); !bytes.Equal(a, b) {
		t.Errorf("restated state differs from a fresh run under the new rules:\nrestated %s\nfresh    %s", a, b)
	}
	for _, e := range restated {
		if again := after.Add(e); len(again) != 0 {
			t.Fatalf("second restatement of %s emitted %d records", e.ID, len(again))
		}
	}
	if m := after.Accounts()[0].meta; m.Restated != uint64(2*len(restated)) || m.RestateMissed != 0 {
		t.Errorf("meta: restated %d, missed %d", m.Restated, m.RestateMissed)
	}
	// A hit the state no longer has is counted, not invented.
	gone := restated[0]
	gone.Props = map[string]string{event.RestateHit: "unknown"}
	if out := after.Add(gone); len(out) != 0 || after.Accounts()[0].meta.RestateMissed != 1 {
		t.Errorf("unknown hit: %d records, missed %d", len(out), after.Accounts()[0].meta.RestateMissed)
	}
}

// TestRestatementNeedsItsSource: a collector-accepted event that calls
// itself "restate" is an ordinary event, not a restatement.
func TestRestatementNeedsItsSource(t *testing.T) {
	e := hit("x", "c1", 0, "https://shop.example.ru/", "")
	e.Type = event.TypeRestate
	if IsRestatement(&e) {
		t.Fatal("source api accepted as a restatement")
	}
	e.Source = event.SourceRestate
	if !IsRestatement(&e) {
		t.Fatal("restatement not recognised")
	}
}

func restatements(evs []event.Envelope) []event.Envelope {
	var out []event.Envelope
	for _, e := range evs {
		if e.ClientID == "" {
			continue
		}
		e.Type, e.Source, e.Name = event.TypeRestate, event.SourceRestate, "r1"
		e.Props = map[string]string{event.RestateHit: e.ID}
		e.ID = "r1/" + e.ID
		out = append(out, e)
	}
	return out
}

func channels(tb tables) string {
	var s []byte
	for i, x := range tb.Sessions {
		if i > 0 {
			s = append(s, ',')
		}
		s = append(s, x.Channel...)
	}
	return string(s)
}
