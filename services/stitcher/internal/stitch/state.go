package stitch

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// StateChange is one changelog record: the account's meta, one chunk of its
// pending events or one person, Value nil when the person or chunk no
// longer exists (a compaction tombstone).
type StateChange struct {
	Key   string // "<tenant>/<account>/m", ".../q/<chunk>" or ".../p/<person>"
	Value []byte
}

// StateChunkBytes bounds the pending events written inline in an account's
// meta record, and each chunk record they are split into when they do not
// fit. It is well below Kafka's default max.message.bytes (1 MB): a busy
// account's events waiting out the lateness window pass 1 MB at a few
// hundred events a second, and one record the broker refuses would abort
// every transaction of the partition. An envelope larger than this alone
// takes a chunk of its own.
const StateChunkBytes = 256 << 10

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

// metaChanges appends the meta record to out: the pending events inline
// when they fit StateChunkBytes, else in chunk records keyed ".../q/<i>"
// after it, and tombstones of chunks written before and no longer used.
// Meta and chunks go in one transaction, so the latest committed values of
// all keys always agree; the meta's PendingChunks says how many to read.
func (a *Account) metaChanges(out []StateChange) []StateChange {
	m := a.meta
	m.PendingChunks = 0
	b := mustJSON(&m)
	var chunks [][]byte
	if len(b) > StateChunkBytes {
		chunks = chunkPending(m.Pending)
		m.Pending, m.PendingChunks = nil, len(chunks)
		b = mustJSON(&m)
	}
	out = append(out, StateChange{Key: a.StateKey() + "m", Value: b})
	for i, c := range chunks {
		out = append(out, StateChange{Key: a.chunkKey(i), Value: c})
	}
	for i := len(chunks); i < a.chunks; i++ {
		out = append(out, StateChange{Key: a.chunkKey(i)})
	}
	a.chunks = len(chunks)
	return out
}

func (a *Account) chunkKey(i int) string { return a.StateKey() + "q/" + strconv.Itoa(i) }

// chunkPending splits pending events into JSON arrays of at most
// StateChunkBytes (one larger event alone).
func chunkPending(p []event.Envelope) [][]byte {
	var out [][]byte
	cur := []byte{'['}
	for i := range p {
		e := mustJSON(&p[i])
		if len(cur) > 1 && len(cur)+len(e)+1 > StateChunkBytes {
			out = append(out, append(cur, ']'))
			cur = []byte{'['}
		}
		if len(cur) > 1 {
			cur = append(cur, ',')
		}
		cur = append(cur, e...)
	}
	if len(cur) > 1 {
		out = append(out, append(cur, ']'))
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Restore applies the latest changelog value of one key of this account.
// Keys must come in key order (as restore and Snapshot give them): the meta
// ("m") before its pending chunks ("q/").
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
		sort.Slice(a.meta.Pending, func(i, j int) bool {
			p, q := &a.meta.Pending[i], &a.meta.Pending[j]
			return p.TS < q.TS || p.TS == q.TS && p.ID < q.ID
		})
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
	a.dirty, a.metaMod = map[string]bool{}, true
	for id := range a.persons {
		a.dirty[id] = true
	}
	out := a.TakeChanges()
	a.dirty, a.metaMod = saved, savedMod
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
