package stitch

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// TestExpiryMatchesScan: pruning through the expiry buckets drops exactly
// the persons a scan of every person drops — with a TTL of two days over a
// few weeks of events, some of them days late (persons made in buckets
// already visited), merges among them, and a restore from the changelog
// halfway: after every event both sets give identical records and
// changelog records, and the same persons.
func TestExpiryMatchesScan(t *testing.T) {
	rules := DefaultRules()
	rules.Policy.Default.PersonTTL = 48 * time.Hour
	rules.Policy.Default.Lookback = 24 * time.Hour
	for seed := range uint64(3) {
		evs := stream(seed, 2, 4000)
		rng := rand.New(rand.NewPCG(seed, 23))
		for range len(evs) / 20 { // some events days late
			i, j := rng.IntN(len(evs)), rng.IntN(len(evs))
			evs[i], evs[j] = evs[j], evs[i]
		}
		buckets, scan := NewSet(rules), NewSet(rules)
		scan.scan = true
		changelog := map[string][]byte{}
		dropped := 0
		for i, e := range evs {
			got, want := buckets.Add(e), scan.Add(e)
			if g, w := encodeRecords(t, got), encodeRecords(t, want); !bytes.Equal(g, w) {
				t.Fatalf("seed %d event %d: records differ from a scan's prune", seed, i)
			}
			gc, wc := buckets.TakeChanges(), scan.TakeChanges()
			if g, w := encodeChanges(t, gc), encodeChanges(t, wc); !bytes.Equal(g, w) {
				t.Fatalf("seed %d event %d: changelog differs from a scan's prune", seed, i)
			}
			for _, c := range gc {
				changelog[c.Key] = c.Value
				if c.Value == nil {
					dropped++
				}
			}
			if i == len(evs)/2 {
				buckets = restoreSet(t, rules, changelog)
			}
		}
		for i, a := range buckets.Accounts() {
			if b := scan.Accounts()[i]; a.Persons() != b.Persons() || a.Clients() != b.Clients() {
				t.Fatalf("seed %d: %d persons, %d clients kept; a scan keeps %d, %d", seed, a.Persons(), a.Clients(), b.Persons(), b.Clients())
			}
		}
		if dropped == 0 {
			t.Fatalf("seed %d: no person expired: the test tests nothing", seed)
		}
	}
}
