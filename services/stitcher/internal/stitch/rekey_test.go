package stitch

import (
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/pii"
)

// State written while a tenant published phones in clear is re-keyed when
// restored under its pii_salt: the person a form and a call made before
// the switch is the person a hashed call after it joins, and the
// changelog written back holds the hashes only.
func TestRestoreRekeysClearState(t *testing.T) {
	before := NewSet(DefaultRules())
	before.Add(form("f1", "A", 0, "+74951234567", "ivan@example.ru"))
	before.Add(call("c1", "k1", 5*minute, "+74951234567", 40, nil, ""))
	before.Flush()
	var person string
	var state []StateChange
	for _, a := range before.Accounts() {
		state = a.Snapshot()
	}
	for _, c := range state {
		if strings.Contains(c.Key, "/p/") {
			person = c.Key[strings.LastIndex(c.Key, "/")+1:]
		}
	}
	if person == "" || !strings.Contains(string(state[len(state)-1].Value), "4951234567") {
		t.Fatalf("the state before the switch should hold the phone in clear: %v", state)
	}

	h := pii.New("0123456789abcdef0123456789abcdef")
	rules := DefaultRules()
	rules.Hashers = map[string]*pii.Hasher{"acme": h}
	after := NewSet(rules)
	for _, c := range state {
		if err := after.Restore(c.Key, c.Value); err != nil {
			t.Fatal(err)
		}
	}
	after.Add(call("c2", "k2", day, h.Phone("+74951234567"), 30, nil, ""))
	after.Flush()
	changes := after.TakeChanges()
	written := 0
	for _, c := range changes {
		if strings.Contains(string(c.Value), "4951234567") || strings.Contains(string(c.Value), "ivan@") {
			t.Errorf("%s written back in clear: %s", c.Key, c.Value)
		}
		if strings.HasSuffix(c.Key, "/p/"+person) {
			written++
		}
	}
	if written != 1 {
		t.Fatalf("person %s written back %d times, want once: %v", person, written, changes)
	}
	a := after.Accounts()[0]
	if a.Persons() != 1 {
		t.Errorf("%d persons after the hashed call, want the one of before", a.Persons())
	}
	keys := a.graph.Keys(person)
	want := []string{"c:A", "e:" + h.Email("ivan@example.ru"), "k:k1", "k:k2", "p:" + h.Phone("+74951234567")}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Errorf("keys %v, want %v", keys, want)
	}
}
