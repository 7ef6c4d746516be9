// Package numbers is Throughline's own dynamic number insertion: it leases
// the tracking numbers of an account's pool to visitors (client ids), so a
// call to a number can be traced to the visitor it was shown to.
//
// The lease table lives in the collector's memory, one per process, sized by
// the pools: it holds one entry per pool number and never more. Every lease
// is also published (a number_lease event on the raw topic), and a starting
// collector reads the last lease time of them back with Restore, so a
// restart does not hand a number still shown on a page to a second visitor.
// Two collectors leasing from the same pool at once would hand out the same
// number to two visitors, so in a multi-collector deployment GET /v1/numbers
// of one account must be routed to one collector (docs/tracker.md).
package numbers

import (
	"sync"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// Lease is one visitor's hold on a number, as answered and published.
type Lease struct {
	Number   string
	From, To time.Time // From: when this client got the number; To: when the lease ends
	// Extended: the client already held the number and its lease moved on.
	Extended bool
	// Shared: every number was leased; this one was taken from the visitor
	// whose lease ended first.
	Shared bool
}

// Pool leases one account's numbers.
type Pool struct {
	Replace []string // the page's default phone, as configured
	Display string   // how Replace[0] looks, for formatting leased numbers
	lease   time.Duration

	mu       sync.Mutex
	slots    []slot
	byClient map[string]int // client id → slot; only the slot's current holder
	byNumber map[string]int // number → slot
}

type slot struct {
	number string
	client string
	from   time.Time
	to     time.Time // zero: never leased; past: free since then
}

// NewPool returns the pool of a configured number pool.
func NewPool(c *tenants.NumberPool) *Pool {
	p := &Pool{Replace: c.Replace, lease: c.LeaseOrDefault(),
		byClient: make(map[string]int, len(c.Numbers)), byNumber: make(map[string]int, len(c.Numbers))}
	if len(c.Replace) > 0 {
		p.Display = c.Replace[0]
	}
	p.slots = make([]slot, len(c.Numbers))
	for i, n := range c.Numbers {
		p.slots[i].number = n
		p.byNumber[n] = i
	}
	return p
}

// Lease gives client a number at now: the one it holds, its lease extended;
// else the free number released longest ago; else, the pool exhausted, the
// number whose lease ends first (Shared).
func (p *Pool) Lease(client string, now time.Time) Lease {
	p.mu.Lock()
	defer p.mu.Unlock()
	to := now.Add(p.lease)
	if i, ok := p.byClient[client]; ok && p.slots[i].to.After(now) {
		s := &p.slots[i]
		s.to = to
		return Lease{Number: s.number, From: s.from, To: to, Extended: true}
	}
	best := -1
	for i := range p.slots {
		// Free slots (to not after now) sort before every leased one, and
		// among themselves by when they were released; a zero to is oldest.
		if best < 0 || p.slots[i].to.Before(p.slots[best].to) {
			best = i
		}
	}
	s := &p.slots[best]
	shared := s.to.After(now)
	p.release(best)
	if i, ok := p.byClient[client]; ok && i != best {
		delete(p.byClient, client) // its old number ran out: it is free again
	}
	s.client, s.from, s.to = client, now, to
	p.byClient[client] = best
	return Lease{Number: s.number, From: now, To: to, Shared: shared}
}

// release forgets slot i's holder as the holder of i. A holder that has
// since been given another number keeps that one.
func (p *Pool) release(i int) {
	if c := p.slots[i].client; c != "" && p.byClient[c] == i {
		delete(p.byClient, c)
	}
}

// Restore puts back a lease read from the published ones: l.Number is
// client's from l.From to l.To, unless the number has a lease ending later.
// Restored in any order, the leases of a pool leave each number with the one
// that ends last — its latest, as every lease ends a lease time after it was
// made — and each client with the number it was given last, as Lease left
// them. A lease that has ended only tells when its number was released. It
// reports false when the number is not in the pool (the pool was changed).
func (p *Pool) Restore(client string, l Lease) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.byNumber[l.Number]
	if !ok {
		return false
	}
	s := &p.slots[i]
	if !l.To.After(s.to) {
		return true // a lease the number had before its latest
	}
	if s.client != client {
		p.release(i)
	}
	s.client, s.from, s.to = client, l.From, l.To
	if j, ok := p.byClient[client]; !ok || !p.slots[j].to.After(l.To) {
		p.byClient[client] = i
	}
	return true
}

// Live is how many of the pool's numbers are leased at now.
func (p *Pool) Live(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for i := range p.slots {
		if p.slots[i].to.After(now) {
			n++
		}
	}
	return n
}

// Size is how many numbers the pool has.
func (p *Pool) Size() int { return len(p.slots) }

// Pools are the pools of every account that has one.
type Pools struct {
	byAccount map[string]*Pool // "tenant/account"
}

// New builds the pools of a tenants config (nil: none).
func New(c *tenants.Config) *Pools {
	ps := &Pools{byAccount: map[string]*Pool{}}
	if c == nil {
		return ps
	}
	for _, t := range c.Tenants {
		for i := range t.Accounts {
			if np, _ := t.Accounts[i].NumberPool(); np != nil {
				ps.byAccount[t.ID+"/"+t.Accounts[i].ID] = NewPool(np)
			}
		}
	}
	return ps
}

// For returns an account's pool, or nil when it has none.
func (ps *Pools) For(tenant, account string) *Pool { return ps.byAccount[tenant+"/"+account] }

// Len is how many accounts have a pool.
func (ps *Pools) Len() int { return len(ps.byAccount) }

// MaxLease is the longest lease time of any pool: leases published longer
// ago than that have all ended.
func (ps *Pools) MaxLease() time.Duration {
	var d time.Duration
	for _, p := range ps.byAccount {
		d = max(d, p.lease)
	}
	return d
}

// Live is how many numbers of all pools are leased at now.
func (ps *Pools) Live(now time.Time) int {
	n := 0
	for _, p := range ps.byAccount {
		n += p.Live(now)
	}
	return n
}
