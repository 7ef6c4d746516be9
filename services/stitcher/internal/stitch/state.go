package stitch

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// StateChange is one changelog record: the account's meta or one person,
// Value nil when the person no longer exists (a compaction tombstone).
type StateChange struct {
	Key   string // "<tenant>/<account>/m" or "<tenant>/<account>/p/<person>"
	Value []byte
}

// StateKey is the changelog key prefix of an account.
func (a *Account) StateKey() string { return a.Tenant + "/" + a.Account + "/" }

// TakeChanges returns the state changed since the last call (meta first,
// then persons in id order) and forgets it.
func (a *Account) TakeChanges() []StateChange {
	var out []StateChange
	if a.metaMod {
		b, err := json.Marshal(&a.meta)
		if err != nil {
			panic(err)
		}
		out = append(out, StateChange{Key: a.StateKey() + "m", Value: b})
		a.metaMod = false
	}
	for _, id := range sortedKeys(a.dirty) {
		c := StateChange{Key: a.StateKey() + "p/" + id}
		if a.dirty[id] {
			if p := a.persons[id]; p != nil {
				c.Value = encodePerson(make([]byte, 0, 256), p)
			}
		}
		out = append(out, c)
	}
	clear(a.dirty)
	return out
}

// Restore applies the latest changelog value of one key of this account.
func (a *Account) Restore(key string, value []byte) error {
	rest := strings.TrimPrefix(key, a.StateKey())
	switch {
	case rest == "m":
		var m Meta
		if err := json.Unmarshal(value, &m); err != nil {
			return fmt.Errorf("restoring account %s meta: %w", a.StateKey(), err)
		}
		a.meta = m
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
		if p.AttrRows == nil {
			p.AttrRows = map[string]int{}
		}
		if a.rekey != nil && rekey(p, a.rekey) {
			a.dirty[id] = true // written back hashed with the next changes
		}
		a.persons[id] = p
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
