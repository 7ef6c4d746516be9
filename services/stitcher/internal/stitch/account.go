// Package stitch ties the domain rules together for one account: it orders
// the account's events, resolves identities, keeps per-person state and
// re-derives a person's sessions, calls, leads, deals and attribution whenever
// an event changes it, emitting only what changed, each with a new version
// (a page view that can change only its client's sessions re-derives just
// those: incremental.go).
//
// Order and lateness: events are buffered in event time and applied in
// (ts, id) order once the account's watermark (the newest event time seen,
// capped by the collector's receive time, minus Lateness) has passed them.
// Input shuffled within Lateness therefore yields exactly the same output. An
// event older than the watermark is applied the moment it arrives: the
// entities of its person are re-derived from all the person's inputs, so the
// latest versions equal those of an in-order run, but the sequence of
// intermediate versions differs (an extra version may be emitted, and a
// session split or joined by the late hit is superseded by a deleted=true
// record). Flush applies everything buffered (idle partitions, end of replay).
package stitch

import (
	"sort"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/pii"
	"github.com/throughline/throughline/services/stitcher/internal/attribution"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
	"github.com/throughline/throughline/services/stitcher/internal/identity"
	"github.com/throughline/throughline/services/stitcher/internal/session"
)

// Env is what an account needs from outside: its settings and channel rules.
type Env struct {
	Settings   Settings
	Classifier *channel.Classifier
	Lateness   time.Duration
	// Rekey, when set, is the tenant's hasher of phones and e-mails:
	// persons restored with them in clear are re-keyed (rekey.go).
	Rekey *pii.Hasher
}

// Account is the state of one account.
type Account struct {
	Tenant, Account string

	settings Settings
	cls      *channel.Classifier
	lateness int64
	rekey    *pii.Hasher
	params   attribution.Params

	graph   *identity.Graph
	persons map[string]*Person
	meta    Meta
	// expiry files the persons for prune; applying is the time of the
	// event being applied, at which a person it creates is filed.
	expiry   expiry
	applying int64

	dirty   map[string]bool // persons changed since TakeChanges (false: deleted)
	metaMod bool
	// chunks is how many pending chunk keys of the former format the
	// changelog holds: tombstoned with the next meta (state.go).
	chunks int
	// pendNew are the pending events not yet in the changelog, pendGone
	// those released from it since TakeChanges: each pending event is a
	// record of its own, written once and tombstoned once (state.go).
	pendNew  map[pendKey]struct{}
	pendGone []pendKey
	clients  int // client ids kept, over all persons
	// full: derive every change in full, without the incremental shortcut
	// (for the test that compares the two).
	full bool
	// scanPrune: prune by scanning every person (for the test that
	// compares it with expiry).
	scanPrune bool
	// personKey is StateKey()+"p/"; slab, when set, is the set's chunk
	// person values are carved from (state.go).
	personKey string
	slab      *slab
	// sessBuf is reused by every sessionizing of the account: sessions are
	// copied into their entities at once (derive.go, incremental.go).
	sessBuf []session.Session
	// hits counts page views and goals applied since the account was
	// created or restored, shortcuts those derived incrementally (for tests).
	hits, shortcuts uint64
}

// Meta is the account-level state: the version counter, the watermark and
// the events waiting for it. Its JSON form is a changelog record value.
type Meta struct {
	Seq       uint64           `json:"seq"`
	MaxTS     int64            `json:"max_ts"`
	AppliedTS int64            `json:"applied_ts"` // newest event time applied
	PrunedAt  int64            `json:"pruned_at"`
	Pending   []event.Envelope `json:"pending,omitempty"`
	// PendingChunks: Pending is written as this many chunk records of
	// their own (state.go) instead of inline.
	PendingChunks int    `json:"pending_chunks,omitempty"`
	Applied       uint64 `json:"applied"`
	LateCount     uint64 `json:"late"`
	// Restatement records applied, and those whose hit was no longer kept.
	Restated      uint64 `json:"restated,omitempty"`
	RestateMissed uint64 `json:"restate_missed,omitempty"`
	// Leases of pool numbers, by tracking number (lease.go).
	Leases map[string][]Lease `json:"leases,omitempty"`
}

// NewAccount returns an empty account.
func NewAccount(tenant, account string, env Env) *Account {
	s := env.Settings
	return &Account{
		Tenant: tenant, Account: account, settings: s, cls: env.Classifier, lateness: env.Lateness.Milliseconds(), rekey: env.Rekey,
		params: attribution.Params{HalfLife: s.HalfLife, PositionFirst: s.PositionFirst, PositionLast: s.PositionLast},
		graph:  identity.NewGraph(), persons: map[string]*Person{}, dirty: map[string]bool{},
		expiry: expiry{width: max(24*time.Hour, s.PersonTTL/16).Milliseconds()},
	}
}

// Record is one entity record to produce.
type Record struct {
	Kind  string // session, call, lead, deal, attribution
	ID    string // entity id (attribution: lead/model/touch)
	Value any    // *entity.Session, *entity.Call, ...
}

// Entity kinds.
const (
	KindSession     = "session"
	KindCall        = "call"
	KindLead        = "lead"
	KindDeal        = "deal"
	KindAttribution = "attribution"
)

// Add takes one event of this account and returns the records it caused,
// which may be none (buffered) or those of earlier buffered events.
func (a *Account) Add(e event.Envelope) []Record {
	a.metaMod = true
	if IsRestatement(&e) {
		// Not buffered: it re-applies a hit already applied, in the order
		// the restatement sends them, and moves no watermark.
		return a.reclassify(e)
	}
	clock := e.TS
	if e.ReceivedAt > 0 && e.ReceivedAt < clock {
		clock = e.ReceivedAt
	}
	var out []Record
	if e.TS < a.meta.MaxTS-a.lateness {
		a.meta.LateCount++
		out = a.apply(e)
	} else {
		n := len(a.meta.Pending)
		if a.meta.Pending = insertPending(a.meta.Pending, e); len(a.meta.Pending) > n {
			a.markPending(&e)
		}
	}
	if clock > a.meta.MaxTS {
		a.meta.MaxTS = clock
	}
	wm := a.meta.MaxTS - a.lateness
	n := 0
	for n < len(a.meta.Pending) && a.meta.Pending[n].TS < wm {
		n++
	}
	return append(out, a.release(n)...)
}

// Flush applies every buffered event and moves the watermark past them.
func (a *Account) Flush() []Record {
	if len(a.meta.Pending) == 0 {
		return nil
	}
	a.metaMod = true
	last := a.meta.Pending[len(a.meta.Pending)-1].TS
	if last+a.lateness+1 > a.meta.MaxTS {
		a.meta.MaxTS = last + a.lateness + 1
	}
	return a.release(len(a.meta.Pending))
}

// Pending is how many events wait for the watermark.
func (a *Account) Pending() int { return len(a.meta.Pending) }

func (a *Account) release(n int) []Record {
	if n == 0 {
		return nil
	}
	var out []Record
	for i := range n { // apply does not touch Pending
		a.unmarkPending(&a.meta.Pending[i])
		out = append(out, a.apply(a.meta.Pending[i])...)
	}
	// Keep the rest in place: Pending is short and appended to on every
	// Add. A backing array left large by a burst is let go.
	p := a.meta.Pending
	if rest := len(p) - n; cap(p) > 4*rest+64 {
		a.meta.Pending = append([]event.Envelope(nil), p[n:]...)
		return out
	}
	m := copy(p, p[n:])
	clear(p[m:])
	a.meta.Pending = p[:m]
	return out
}

func insertPending(p []event.Envelope, e event.Envelope) []event.Envelope {
	i := sort.Search(len(p), func(i int) bool {
		return p[i].TS > e.TS || (p[i].TS == e.TS && p[i].ID >= e.ID)
	})
	if i < len(p) && p[i].TS == e.TS && p[i].ID == e.ID {
		return p // the same event twice (a retried delivery)
	}
	p = append(p, event.Envelope{})
	copy(p[i+1:], p[i:])
	p[i] = e
	return p
}

// prune drops persons whose newest event is older than PersonTTL before the
// newest applied event, checked every PersonTTL/16 (at least a day) of its progress. It depends
// only on the sequence of applied events, so it is as deterministic as they.
// Entities already emitted stay in the tables; an event for a dropped person
// starts a new one.
func (a *Account) prune() {
	now := a.meta.AppliedTS
	if now-a.meta.PrunedAt < a.expiry.width {
		return
	}
	a.meta.PrunedAt = now
	a.pruneLeases()
	cutoff := now - a.settings.PersonTTL.Milliseconds()
	if a.scanPrune {
		a.pruneScan(cutoff)
		return
	}
	// Order does not matter: the changes are sorted when taken.
	for _, e := range a.expiry.take(cutoff) {
		switch p := e.p; {
		case a.persons[e.id] != p: // gone since it was filed
		case p.LastTS < cutoff:
			a.clients -= len(p.Clients)
			a.graph.Remove(e.id)
			delete(a.persons, e.id)
			a.dirty[e.id] = false
		default:
			a.expiry.file(e.id, p, p.LastTS)
		}
	}
}

// pruneScan is prune by a scan of every person, as before expiry (for the
// test that compares the two).
func (a *Account) pruneScan(cutoff int64) {
	for id, p := range a.persons {
		if p.LastTS < cutoff {
			a.clients -= len(p.Clients)
			a.graph.Remove(id)
			delete(a.persons, id)
			a.dirty[id] = false
		}
	}
}
