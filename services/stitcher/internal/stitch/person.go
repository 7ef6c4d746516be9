package stitch

import (
	"sort"

	"github.com/throughline/throughline/services/stitcher/internal/channel"
	"github.com/throughline/throughline/services/stitcher/internal/lead"
	"github.com/throughline/throughline/services/stitcher/internal/session"
)

// Person is everything the stitcher keeps about one person of an account:
// the inputs its entities are derived from, and a fingerprint of each entity
// last emitted, so a re-computation emits only what changed and supersedes
// what disappeared. encodePerson gives its changelog record value.
type Person struct {
	ID       string                `json:"id"`
	Keys     []string              `json:"keys"`
	Clients  map[string]*Client    `json:"clients,omitempty"`
	Calls    []lead.Call           `json:"calls,omitempty"`    // ordered by time, call id
	Contacts []lead.Contact        `json:"contacts,omitempty"` // forms, chats, CRM-created leads; ordered
	Deals    map[string]*lead.Deal `json:"deals,omitempty"`    // key: provider:crm id
	LastTS   int64                 `json:"last_ts"`
	Emitted  map[string]uint64     `json:"emitted,omitempty"`   // entity key → content hash
	AttrRows map[string]int        `json:"attr_rows,omitempty"` // lead id → touches of its emitted rows

	// What a hit can change, as of the last full derivation (incremental.go);
	// kept in memory only: a person restored or merged is derived in full
	// on its next event, which sets them again.
	derived    bool
	lastLeadTS int64 // the newest lead's time
	lastCallTS int64 // the newest call's time
	// valueLen is the length of its last changelog value.
	valueLen int
}

// Client is one device's hits.
type Client struct {
	Hits    []session.Hit    `json:"hits"`
	Origins []session.Origin `json:"origins,omitempty"`

	// The touches of its sessions as of the last derivation: how many,
	// and their hash (incremental.go). In memory only.
	touches    int
	touchesSum uint64
}

func newPerson(id string) *Person {
	return &Person{ID: id, Emitted: map[string]uint64{}} // AttrRows: made with the first lead
}

// setAttrRows records how many touches lead id's emitted rows have.
func (p *Person) setAttrRows(id string, n int) {
	if p.AttrRows == nil {
		p.AttrRows = map[string]int{}
	}
	p.AttrRows[id] = n
}

func (p *Person) touch(ts int64) {
	if ts > p.LastTS {
		p.LastTS = ts
	}
}

// addHit records a hit of a client, keeping its origin once.
func (p *Person) addHit(clientID string, h session.Hit, src channel.Source, referrer string, maxHits int) {
	if p.Clients == nil {
		p.Clients = map[string]*Client{}
	}
	c := p.Clients[clientID]
	if c == nil {
		c = &Client{}
		p.Clients[clientID] = c
	}
	h.Src = -1
	if !src.IsDirect() {
		o := session.Origin{Source: src, Referrer: referrer}
		h.Src = int32(len(c.Origins))
		for i, x := range c.Origins {
			if x == o {
				h.Src = int32(i)
				break
			}
		}
		if int(h.Src) == len(c.Origins) {
			c.Origins = append(c.Origins, o)
		}
	}
	c.Hits = session.Insert(c.Hits, h)
	if over := len(c.Hits) - maxHits; over > 0 {
		c.Hits = append(c.Hits[:0:0], c.Hits[over:]...)
	}
}

// addCall records a call; a second report of the same call replaces the first
// when it is newer (the vendor sends updates as the call progresses).
func (p *Person) addCall(c lead.Call) {
	for i, x := range p.Calls {
		if x.CallID == c.CallID {
			if c.TS > x.TS || (c.TS == x.TS && c.EventID >= x.EventID) {
				p.Calls[i] = c
			}
			p.sortCalls()
			return
		}
	}
	p.Calls = append(p.Calls, c)
	p.sortCalls()
}

func (p *Person) sortCalls() {
	sort.Slice(p.Calls, func(i, j int) bool {
		a, b := p.Calls[i], p.Calls[j]
		if a.TS != b.TS {
			return a.TS < b.TS
		}
		return a.CallID < b.CallID
	})
}

// addContact records a contact; the same contact id keeps its earliest time.
func (p *Person) addContact(c lead.Contact) {
	for i, x := range p.Contacts {
		if x.ID == c.ID {
			if lead.Less(c, x) {
				p.Contacts[i] = c
				lead.Sort(p.Contacts)
			}
			return
		}
	}
	p.Contacts = append(p.Contacts, c)
	lead.Sort(p.Contacts)
}

func (p *Person) addDealChange(provider, crmID string, c lead.Change) {
	if p.Deals == nil {
		p.Deals = map[string]*lead.Deal{}
	}
	k := provider + ":" + crmID
	d := p.Deals[k]
	if d == nil {
		d = &lead.Deal{Provider: provider, CRMID: crmID}
		p.Deals[k] = d
	}
	d.Add(c)
}

// absorb moves everything of q (merged into p) to p.
func (p *Person) absorb(q *Person) {
	for id, c := range q.Clients {
		if p.Clients == nil {
			p.Clients = map[string]*Client{}
		}
		p.Clients[id] = c
	}
	for _, c := range q.Calls {
		p.addCall(c)
	}
	for _, c := range q.Contacts {
		p.addContact(c)
	}
	for k, d := range q.Deals {
		if p.Deals == nil {
			p.Deals = map[string]*lead.Deal{}
		}
		if have := p.Deals[k]; have != nil {
			for _, c := range d.Changes {
				have.Add(c)
			}
		} else {
			p.Deals[k] = d
		}
	}
	for k, h := range q.Emitted {
		p.Emitted[k] = h
	}
	for k, n := range q.AttrRows {
		p.setAttrRows(k, n)
	}
	p.touch(q.LastTS)
}
