package stitch

// expiry files an account's persons by time, in buckets one prune interval
// wide, so prune visits only the persons that may have expired instead of
// every person of the account on every check: O(expired) per prune, not
// O(persons) — a large account's prune does not stall its partition.
//
// Every kept person has one entry, filed at a time no later than its LastTS
// (LastTS only grows: a new person is filed at the time of the event that
// made it, a restored one at its LastTS). prune takes the entries of buckets
// that start before the cutoff: an entry whose person is gone (merged away,
// dropped, replaced by a restore) is skipped, a person that expired is
// dropped, and one seen since is filed again at its LastTS. It drops exactly
// the persons a scan of all of them would.
type expiry struct {
	width   int64 // ms
	buckets map[int64][]expiryEntry
}

type expiryEntry struct {
	id string
	p  *Person
}

// file records that p (id) had its newest event no earlier than ts.
func (x *expiry) file(id string, p *Person, ts int64) {
	if x.buckets == nil {
		x.buckets = map[int64][]expiryEntry{}
	}
	k := floorDiv(ts, x.width)
	x.buckets[k] = append(x.buckets[k], expiryEntry{id: id, p: p})
}

// take removes and returns the entries filed at times that may be before cutoff.
func (x *expiry) take(cutoff int64) []expiryEntry {
	last := floorDiv(cutoff-1, x.width) // the last bucket that starts before cutoff
	var out []expiryEntry
	for k, es := range x.buckets { // a few buckets: PersonTTL over the interval
		if k <= last {
			out = append(out, es...)
			delete(x.buckets, k)
		}
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
