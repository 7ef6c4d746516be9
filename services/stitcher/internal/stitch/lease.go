package stitch

import (
	"slices"
	"sort"

	"github.com/throughline/throughline/pkg/event"
)

// Number leases are Throughline's own dynamic number insertion: the
// collector leases a pool number to a visitor (a number_lease event) and a
// call to that number during the lease is the visitor's, as if the call
// tracker had reported the client id.
//
// Leases are account-level state kept in Meta, per tracking number in order
// of their start. A call is linked when it is applied, so a lease applied
// before the call — in event time, within the lateness — links it; a lease
// arriving more than the lateness after the call does not re-link it (the
// collector publishes a lease before the browser can show the number, so in
// practice it is in Kafka long before any call to it).

// Lease is one visitor's hold on a pool number.
type Lease struct {
	Client string `json:"c"`
	From   int64  `json:"f"`
	To     int64  `json:"t"`
	Shared bool   `json:"s,omitempty"`
}

// Leases are kept in the account's meta, one changelog record that must
// stay well under Kafka's 1 MB: at most maxLeasesPerNumber per number (an
// exhausted pool hands one to visitor after visitor; the oldest go first)
// and maxLeasesPerAccount in all (~65 bytes each; those that ended first go).
const (
	maxLeasesPerNumber  = 16
	maxLeasesPerAccount = 2048
)

// applyLease records a lease or its extension. A lease of the same client
// with the same start is the same lease: its end moves.
func (a *Account) applyLease(e event.Envelope) {
	l := e.Lease
	if l == nil || l.Number == "" || e.ClientID == "" || l.To <= l.From {
		return
	}
	if a.meta.Leases == nil {
		a.meta.Leases = map[string][]Lease{}
	}
	ls := a.meta.Leases[l.Number]
	for i := range ls {
		if ls[i].Client == e.ClientID && ls[i].From == l.From {
			ls[i].To = max(ls[i].To, l.To)
			ls[i].Shared = ls[i].Shared || l.Shared
			a.meta.Leases[l.Number] = a.trimLeases(ls)
			return
		}
	}
	i := sort.Search(len(ls), func(i int) bool {
		return ls[i].From > l.From || (ls[i].From == l.From && ls[i].Client > e.ClientID)
	})
	ls = append(ls, Lease{})
	copy(ls[i+1:], ls[i:])
	ls[i] = Lease{Client: e.ClientID, From: l.From, To: l.To, Shared: l.Shared}
	a.meta.Leases[l.Number] = a.trimLeases(ls)
	a.capLeases()
}

// capLeases drops the leases that ended first while the account keeps more
// than maxLeasesPerAccount. Ties are broken by number and start, so the
// result does not depend on map order.
func (a *Account) capLeases() {
	if len(a.meta.Leases)*maxLeasesPerNumber <= maxLeasesPerAccount {
		return // cannot be over: no need to count
	}
	n := 0
	for _, ls := range a.meta.Leases {
		n += len(ls)
	}
	for ; n > maxLeasesPerAccount; n-- {
		var num string
		var at int
		for k, ls := range a.meta.Leases {
			for j, l := range ls {
				if num == "" || l.To < a.meta.Leases[num][at].To ||
					l.To == a.meta.Leases[num][at].To && (k < num || k == num && j < at) {
					num, at = k, j
				}
			}
		}
		ls := slices.Delete(a.meta.Leases[num], at, at+1)
		if len(ls) == 0 {
			delete(a.meta.Leases, num)
		} else {
			a.meta.Leases[num] = ls
		}
	}
}

// leaseAt is the client whose lease of number covered ts: the latest
// started if several did (a shared lease goes to its newest holder).
func (a *Account) leaseAt(number string, ts int64) string {
	ls := a.meta.Leases[number]
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i].From <= ts && ts <= ls[i].To {
			return ls[i].Client
		}
	}
	return ""
}

// trimLeases drops leases that ended more than PoolCallWindow before the
// newest applied event — no call that late is expected — and the oldest
// beyond maxLeasesPerNumber.
func (a *Account) trimLeases(ls []Lease) []Lease {
	cutoff := a.meta.AppliedTS - a.settings.PoolCallWindow.Milliseconds()
	ls = slices.DeleteFunc(ls, func(l Lease) bool { return l.To < cutoff })
	if n := len(ls) - maxLeasesPerNumber; n > 0 {
		ls = append(ls[:0], ls[n:]...)
	}
	return ls
}

// pruneLeases trims every number's leases; numbers left with none go.
func (a *Account) pruneLeases() {
	for num, ls := range a.meta.Leases {
		if ls = a.trimLeases(ls); len(ls) == 0 {
			delete(a.meta.Leases, num)
		} else {
			a.meta.Leases[num] = ls
		}
	}
	if len(a.meta.Leases) == 0 {
		a.meta.Leases = nil
	}
}

// leaseClients are the client ids a call is explicitly linked to: those the
// call tracker reported, else the holder of the pool number's lease.
func (a *Account) leaseClients(c *event.Call, ts int64) []string {
	if len(c.ClientIDs) > 0 || c.TrackingNumber == "" || c.Direction == "out" {
		return c.ClientIDs
	}
	if cid := a.leaseAt(c.TrackingNumber, ts); cid != "" {
		return []string{cid}
	}
	return nil
}
