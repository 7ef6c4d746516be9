package stitch

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// StateChange is one changelog record: the account's meta, one of its
// pending events or one person, Value nil when the person or event no
// longer exists (a compaction tombstone).
type StateChange struct {
	Key   string // "<tenant>/<account>/m", ".../w/<ts>/<event id>" or ".../p/<person>"
	Value []byte
}

// StateKey is the changelog key prefix of an account.
func (a *Account) StateKey() string { return a.Tenant + "/" + a.Account + "/" }

// TakeChanges returns the state changed since the last call (meta first,
// then persons in id order) and forgets it.
func (a *Account) TakeChanges() []StateChange {
	out := make([]StateChange, 0, len(a.dirty)+1)
	if a.metaMod {
		out = a.metaChanges(out)
		a.metaMod = false
	}
	if a.personKey == "" {
		a.personKey = a.StateKey() + "p/"
	}
	for _, id := range sortedKeys(a.dirty) {
		c := StateChange{Key: a.personKey + id}
		if a.dirty[id] {
			if p := a.persons[id]; p != nil {
				c.Value = a.encodePerson(p)
			}
		}
		out = append(out, c)
	}
	clear(a.dirty)
	return out
}

// encodePerson is p's changelog value, carved out of the set's slab (an
// account of no set allocates it alone).
func (a *Account) encodePerson(p *Person) []byte {
	// Sized as its last value: a person grows by an event or two between writes.
	need := max(256, p.valueLen+p.valueLen/4)
	var v []byte
	if a.slab == nil {
		v = encodePerson(make([]byte, 0, need), p)
	} else {
		v = a.slab.encode(need, p)
	}
	p.valueLen = len(v)
	return v
}

// slab is the chunk a set's person values are carved out of: values live
// until their transaction is produced, and one chunk for many persons is
// fewer objects for the collector than one allocation each. A chunk is only
// ever appended to, so a value handed out is never overwritten; one set (a
// partition, used by one goroutine at a time) shares one slab.
type slab struct{ b []byte }

// slabBytes is the size of a slab's chunks.
const slabBytes = 32 << 10

// encode appends p's value to the chunk (a new chunk when need bytes do not fit).
func (s *slab) encode(need int, p *Person) []byte {
	if cap(s.b)-len(s.b) < need {
		s.b = make([]byte, 0, max(slabBytes, need))
	}
	free := s.b[len(s.b):]
	v := encodePerson(free, p)
	if len(v) <= cap(free) { // written in place
		s.b = s.b[:len(s.b)+len(v)]
	}
	return v[:len(v):len(v)]
}

// metaChanges appends the meta record to out, then the pending events that
// changed since the last call: each waiting event is a record of its own
// (".../w/<ts>/<id>"), written when it starts waiting and tombstoned when it
// is applied. Every transaction of a busy account used to rewrite all its
// waiting events (rate × lateness of them, ~1,500 at 500 events/s) in the
// meta or in chunk records: a cost growing with the square of the rate
// that took most of a core under load (docs/benchmarks.md, edge figures).
// Meta and events go in one transaction, so the latest committed values of
// all keys always agree. Chunk records of the former format ("q/<i>") are
// tombstoned with the first meta written after their restore.
func (a *Account) metaChanges(out []StateChange) []StateChange {
	m := a.meta
	m.Pending, m.PendingChunks = nil, 0
	out = append(out, StateChange{Key: a.StateKey() + "m", Value: mustJSON(&m)})
	for i := range a.chunks {
		out = append(out, StateChange{Key: a.StateKey() + "q/" + strconv.Itoa(i)})
	}
	a.chunks = 0
	return a.pendingChanges(out)
}

// pendKey names a pending event: insertPending keeps one event per time
// and id.
type pendKey struct {
	ts int64
	id string
}

func (a *Account) pendingKey(k pendKey) string {
	return a.StateKey() + "w/" + strconv.FormatInt(k.ts, 10) + "/" + k.id
}

// markPending notes that e started waiting (written with the next changes).
func (a *Account) markPending(e *event.Envelope) {
	if a.pendNew == nil {
		a.pendNew = map[pendKey]struct{}{}
	}
	a.pendNew[pendKey{e.TS, e.ID}] = struct{}{}
}

// unmarkPending notes that e stops waiting: tombstoned with the next
// changes, or never written if it did not wait past them.
func (a *Account) unmarkPending(e *event.Envelope) {
	k := pendKey{e.TS, e.ID}
	if _, ok := a.pendNew[k]; ok {
		delete(a.pendNew, k)
		return
	}
	a.pendGone = append(a.pendGone, k)
}

// pendingChanges appends the tombstones of the events applied since the
// last call and the values of those that started waiting, in key order.
func (a *Account) pendingChanges(out []StateChange) []StateChange {
	if len(a.pendGone)+len(a.pendNew) == 0 {
		return out
	}
	for _, k := range a.pendGone {
		out = append(out, StateChange{Key: a.pendingKey(k)})
	}
	added := make([]pendKey, 0, len(a.pendNew))
	for k := range a.pendNew {
		added = append(added, k)
	}
	sort.Slice(added, func(i, j int) bool { return pendLess(added[i], added[j]) })
	p := a.meta.Pending
	for _, k := range added {
		i := sort.Search(len(p), func(i int) bool { return !pendLess(pendKey{p[i].TS, p[i].ID}, k) })
		c := StateChange{Key: a.pendingKey(k)}
		if i < len(p) && p[i].TS == k.ts && p[i].ID == k.id {
			c.Value = mustJSON(&p[i])
		} // else no longer waiting (cannot happen: release unmarks): a tombstone is right
		out = append(out, c)
	}
	a.pendGone = a.pendGone[:0]
	clear(a.pendNew)
	return out
}

// pendLess is the order of Pending (insertPending).
func pendLess(x, y pendKey) bool { return x.ts < y.ts || x.ts == y.ts && x.id < y.id }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Restore applies the latest changelog value of one key of this account.
// Keys must come in key order (as restore and Snapshot give them): the meta
// ("m") before its pending events ("w/") and the former format's chunks
// ("q/"). Pending events read from the former format (inline in the meta or
// in chunks) are written as records of their own with the next changes.
func (a *Account) Restore(key string, value []byte) error {
	rest := strings.TrimPrefix(key, a.StateKey())
	switch {
	case rest == "m":
		var m Meta
		if err := json.Unmarshal(value, &m); err != nil {
			return fmt.Errorf("restoring account %s meta: %w", a.StateKey(), err)
		}
		a.meta = m
		a.chunks = max(a.chunks, m.PendingChunks)
		for i := range m.Pending { // the former format: rewritten
			a.markPending(&m.Pending[i])
			a.metaMod = true
		}
	case strings.HasPrefix(rest, "q/"):
		i, err := strconv.Atoi(rest[2:])
		if err != nil || i < 0 {
			return fmt.Errorf("restoring %s: malformed chunk key", key)
		}
		if value == nil {
			return nil
		}
		a.chunks = max(a.chunks, i+1) // a stale chunk is tombstoned with the next meta
		if i >= a.meta.PendingChunks {
			return nil
		}
		var evs []event.Envelope
		if err := json.Unmarshal(value, &evs); err != nil {
			return fmt.Errorf("restoring pending chunk %s: %w", key, err)
		}
		// Chunks come in key order ("q/10" before "q/2"): keep Pending sorted.
		a.meta.Pending = append(a.meta.Pending, evs...)
		for i := range evs { // the former format: rewritten
			a.markPending(&evs[i])
			a.metaMod = true
		}
		sort.Slice(a.meta.Pending, func(i, j int) bool {
			p, q := &a.meta.Pending[i], &a.meta.Pending[j]
			return p.TS < q.TS || p.TS == q.TS && p.ID < q.ID
		})
	case strings.HasPrefix(rest, "w/"):
		if value == nil {
			return nil
		}
		var e event.Envelope
		if err := json.Unmarshal(value, &e); err != nil {
			return fmt.Errorf("restoring pending event %s: %w", key, err)
		}
		a.meta.Pending = insertPending(a.meta.Pending, e)
	case strings.HasPrefix(rest, "p/"):
		id := rest[2:]
		if old := a.persons[id]; old != nil {
			a.clients -= len(old.Clients)
		}
		if value == nil {
			a.graph.Remove(id)
			delete(a.persons, id)
			return nil
		}
		p := newPerson(id)
		if err := decodePerson(value, p); err != nil {
			return fmt.Errorf("restoring person %s of %s: %w", id, a.StateKey(), err)
		}
		if p.Emitted == nil {
			p.Emitted = map[string]uint64{}
		}
		if a.rekey != nil && rekey(p, a.rekey) {
			a.dirty[id] = true // written back hashed with the next changes
		}
		a.persons[id] = p
		a.expiry.file(id, p, p.LastTS)
		a.clients += len(p.Clients)
		a.graph.Restore(id, p.Keys)
	default:
		return fmt.Errorf("restoring %s: unknown state key", key)
	}
	return nil
}

// SplitStateKey returns the tenant and account of a changelog key.
func SplitStateKey(key string) (tenant, account string, ok bool) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) < 3 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// Persons is how many persons the account keeps.
func (a *Account) Persons() int { return len(a.persons) }

// Clients is how many client ids the account keeps.
func (a *Account) Clients() int { return a.clients }

// Snapshot returns every state record of the account (for tests and sizing).
func (a *Account) Snapshot() []StateChange {
	saved, savedMod := a.dirty, a.metaMod
	savedNew, savedGone, savedChunks := a.pendNew, a.pendGone, a.chunks
	a.dirty, a.metaMod = map[string]bool{}, true
	a.pendNew, a.pendGone, a.chunks = nil, nil, 0
	for i := range a.meta.Pending {
		a.markPending(&a.meta.Pending[i])
	}
	for id := range a.persons {
		a.dirty[id] = true
	}
	out := a.TakeChanges()
	a.dirty, a.metaMod = saved, savedMod
	a.pendNew, a.pendGone, a.chunks = savedNew, savedGone, savedChunks
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
