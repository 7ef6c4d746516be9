// Package identity links the identifiers of one person within an account:
// client ids, call ids, CRM lead/deal/contact ids (explicit links), and
// phones and e-mails as the collector published them — E.164 and lower-cased,
// or their per-tenant hashes (matches). Explicit links always join; a
// phone or e-mail match joins two persons unless the CRM already says they are
// different people (each has its own CRM contact), so an explicit link beats a
// phone/e-mail match. Joins are never undone: a merged person stays merged.
package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// Key builders. A key is "<kind>:<value>"; kinds keep namespaces apart.
func Client(id string) string { return "c:" + id }

// Web-analytics namespaces: a visitor id of Yandex Metrica (ClientID, the
// _ym_uid cookie) or Google Analytics (client id, from _ga), as call
// trackers report them among a call's client ids ("ym:<id>", "ga:<id>").
const (
	NamespaceYM = "ym"
	NamespaceGA = "ga"
)

// WebAnalytics is the key of a web-analytics visitor id: the same key a
// call's client id "ym:<id>" makes, so a hit that carried the id and a call
// that reports it are one person.
func WebAnalytics(ns, id string) string { return Client(ns + ":" + id) }

// WebVisitor is the key that records which of our client ids carried a
// web-analytics id ("w:ym:<id>:<client id>"). Nothing else makes it: it
// links nothing new, it lets a call that reports only the web-analytics id
// find that client's sessions, and a session name its web-analytics ids.
// The ids are digits and dots (pkg/event normalises them), so the first ":"
// after them ends them.
func WebVisitor(ns, id, clientID string) string { return "w:" + ns + ":" + id + ":" + clientID }

// WebVisitorPrefix is the common prefix of the WebVisitor keys of one id.
func WebVisitorPrefix(ns, id string) string { return "w:" + ns + ":" + id + ":" }

// ParseWebVisitor splits a WebVisitor key; ok is false for any other key.
func ParseWebVisitor(key string) (ns, id, clientID string, ok bool) {
	rest, ok := strings.CutPrefix(key, "w:")
	if !ok {
		return "", "", "", false
	}
	ns, rest, ok1 := strings.Cut(rest, ":")
	id, clientID, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || id == "" || clientID == "" {
		return "", "", "", false
	}
	return ns, id, clientID, true
}

// Call is a call-tracking call id (vendor ids do not collide within an account).
func Call(id string) string { return "k:" + id }

// CRM is a CRM entity id (entity: lead, deal, contact).
func CRM(provider, entity, id string) string { return "m:" + provider + ":" + entity + ":" + id }

// Phone is the key of a phone as the collector published it: E.164 read by
// pkg/phone in the account's region, or its per-tenant hash (pkg/pii). The
// stitcher does not normalise again — one normaliser, at the edge — so the
// same number from a call tracker and a CRM card is the same key. "" for "".
func Phone(v string) string {
	if v == "" {
		return ""
	}
	return "p:" + v
}

// Email is the key of an e-mail as the collector published it (lower-cased,
// or its hash); "" for "".
func Email(v string) string {
	if v == "" {
		return ""
	}
	return "e:" + v
}

func isContact(key string) bool {
	return strings.HasPrefix(key, "m:") && strings.Contains(key, ":contact:")
}

// PersonID is the id a person created from key gets.
func PersonID(key string) string {
	h := sha256.Sum256([]byte(key))
	var id [17]byte
	id[0] = 'p'
	hex.Encode(id[1:], h[:8])
	return string(id[:])
}

// Graph maps every known key of an account to its person.
type Graph struct {
	owner   map[string]string   // key → person
	members map[string][]string // person → its keys, sorted
	grew    bool                // Link added a key: the smallest key may have changed
}

// NewGraph returns an empty graph.
func NewGraph() *Graph { return &Graph{owner: map[string]string{}, members: map[string][]string{}} }

// Owner returns the person a key belongs to.
func (g *Graph) Owner(key string) (string, bool) {
	p, ok := g.owner[key]
	return p, ok
}

// Keys returns a person's keys (sorted; do not modify).
func (g *Graph) Keys(person string) []string { return g.members[person] }

// Restore adds a person with its keys, as read back from the changelog.
func (g *Graph) Restore(person string, keys []string) {
	g.members[person] = append([]string(nil), keys...)
	for _, k := range keys {
		g.owner[k] = person
	}
}

// Remove forgets a person and its keys (state expiry).
func (g *Graph) Remove(person string) {
	for _, k := range g.members[person] {
		if g.owner[k] == person {
			delete(g.owner, k)
		}
	}
	delete(g.members, person)
}

// Link records that the explicit keys and the matched keys of one event belong
// together, and returns the person the event belongs to and the persons that
// were merged into it (they no longer exist). A person's id is derived from
// its smallest key, so it does not depend on the order events arrived in; a
// person whose smallest key changed is returned under its new id with its old
// id among the absorbed. With no keys at all it returns "".
func (g *Graph) Link(explicit, matched []string) (person string, absorbed []string) {
	g.grew = false
	var created, createdID string // a person created here: from key created, id PersonID(created)
	for _, k := range explicit {
		if p, ok := g.owner[k]; ok {
			person, absorbed = g.join(person, p, absorbed)
		}
	}
	if person == "" && len(explicit) > 0 {
		person, created = g.create(explicit[0]), explicit[0]
		createdID = person
	}
	for _, k := range explicit {
		g.add(person, k)
	}
	for _, k := range matched {
		p, ok := g.owner[k]
		switch {
		case !ok && person == "":
			person, created = g.create(k), k
			createdID = person
			g.add(person, k)
		case !ok:
			g.add(person, k)
		case person == "":
			person = p
		case p != person && !g.conflict(p, person):
			person, absorbed = g.join(person, p, absorbed)
		}
	}
	// A person created here from its smallest key already has its id;
	// otherwise the id follows the smallest key.
	if person != "" && (len(absorbed) > 0 || g.grew) && (person != createdID || g.members[person][0] != created) {
		if want := PersonID(g.members[person][0]); want != person {
			g.members[want] = g.members[person]
			delete(g.members, person)
			for _, k := range g.members[want] {
				g.owner[k] = want
			}
			absorbed = append(absorbed, person)
			person = want
		}
	}
	kept := absorbed[:0]
	for _, a := range absorbed {
		if a != person {
			kept = append(kept, a)
		}
	}
	return person, kept
}

// conflict is true when both persons carry CRM contacts and share none: the
// CRM knows them as different people, so a phone/e-mail match must not join them.
func (g *Graph) conflict(a, b string) bool {
	ca, cb := contacts(g.members[a]), contacts(g.members[b])
	if len(ca) == 0 || len(cb) == 0 {
		return false
	}
	for k := range ca {
		if cb[k] {
			return false
		}
	}
	return true
}

func contacts(keys []string) map[string]bool {
	var m map[string]bool
	for _, k := range keys {
		if isContact(k) {
			if m == nil {
				m = map[string]bool{}
			}
			m[k] = true
		}
	}
	return m
}

func (g *Graph) create(key string) string {
	p := PersonID(key)
	g.members[p] = nil
	return p
}

func (g *Graph) add(person, key string) {
	if g.owner[key] == person {
		return
	}
	g.owner[key] = person
	g.grew = true
	ks := g.members[person]
	i := sort.SearchStrings(ks, key)
	ks = append(ks, "")
	copy(ks[i+1:], ks[i:])
	ks[i] = key
	g.members[person] = ks
}

// join merges a and b (either may be ""), returning the survivor.
func (g *Graph) join(a, b string, absorbed []string) (string, []string) {
	if a == "" || a == b {
		return b, absorbed
	}
	keep, drop := a, b
	if drop < keep {
		keep, drop = drop, keep
	}
	for _, k := range g.members[drop] {
		g.add(keep, k)
	}
	delete(g.members, drop)
	return keep, append(absorbed, drop)
}
