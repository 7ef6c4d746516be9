// Package numbers is Throughline's own dynamic number insertion: it leases
// the tracking numbers of an account's pool to visitors (client ids), so a
// call to a number can be traced to the visitor it was shown to.
//
// The lease table lives in the collector's memory, one per process, sized by
// the pools: it holds one entry per pool number and never more. Every lease
// is also published (a number_lease event on the raw topic and on the leases
// topic); a starting collector reads the last lease time of them back, and
// every collector applies the leases the others publish, with Apply: in any
// order the applied leases leave every table the same, so collectors serving
// one pool converge within Kafka's latency (docs/tracker.md).
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

// Holds reports whether client holds a number at now: leasing it again
// extends that lease and takes no number from anyone.
func (p *Pool) Holds(client string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.byClient[client]
	return ok && p.slots[i].to.After(now.Truncate(time.Millisecond))
}

// Lease gives client a number at now: the one it holds, its lease extended;
// else the free number released longest ago; else, the pool exhausted, the
// number whose lease ends first (Shared).
//
// Times are kept to the millisecond, as leases are published, and a lease
// always wins (Apply) over the one it replaces in the table: should that
// one end as late (taken in the same millisecond, or made by a collector
// whose clock is ahead), the new one ends a millisecond after it. So the
// other collectors, applying the lease, keep it too.
func (p *Pool) Lease(client string, now time.Time) Lease {
	p.mu.Lock()
	defer p.mu.Unlock()
	now = now.Truncate(time.Millisecond)
	to := now.Add(p.lease)
	if i, ok := p.byClient[client]; ok && p.slots[i].to.After(now) {
		s := &p.slots[i]
		s.to = later(s.to, to)
		return Lease{Number: s.number, From: s.from, To: s.to, Extended: true}
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
	if !to.After(s.to) {
		to = s.to.Add(time.Millisecond)
	}
	p.release(best)
	if i, ok := p.byClient[client]; ok && i != best {
		delete(p.byClient, client) // its old number ran out: it is free again
	}
	s.client, s.from, s.to = client, now, to
	p.byClient[client] = best
	return Lease{Number: s.number, From: now, To: to, Shared: shared}
}

// release forgets slot i's holder as the holder of i. A holder that has
// since been given another number keeps that one; one that holds another
// number still (two collectors gave it two at once) falls back to it.
func (p *Pool) release(i int) {
	c := p.slots[i].client
	if c == "" || p.byClient[c] != i {
		return
	}
	delete(p.byClient, c)
	for j := range p.slots {
		if j != i && p.slots[j].client == c {
			p.hold(c, j)
		}
	}
}

// hold makes slot j client's number if it was given later than the one
// byClient has — the client's number is the one it was given last, and of
// two given at once (two collectors), the greater, on every collector.
func (p *Pool) hold(client string, j int) {
	k, ok := p.byClient[client]
	if !ok || p.slots[k].to.Before(p.slots[j].to) ||
		p.slots[k].to.Equal(p.slots[j].to) && p.slots[k].number <= p.slots[j].number {
		p.byClient[client] = j
	}
}

// Applied is what Apply did with a lease.
type Applied int

const (
	// Unknown: the number is not in the pool (the pool was changed).
	Unknown Applied = iota
	// Stale: the number has a lease that wins over this one (ends later);
	// the table is unchanged.
	Stale
	// Taken: the lease is now the number's.
	Taken
	// Conflict: the lease is now the number's, and it overlaps the lease of
	// another client it displaced, though it was not leased as shared: two
	// collectors leased the number at about the same time. The displaced
	// client gets another number when it asks again.
	Conflict
)

// Restore puts back a lease read from the published ones (Apply) and reports
// false when the number is not in the pool.
func (p *Pool) Restore(client string, l Lease) bool { return p.Apply(client, l) != Unknown }

// Apply puts in a lease published by this or another collector: l.Number is
// client's from l.From to l.To, unless the number has a lease that wins —
// one that ends later, or as late and began later, or began as late and its
// client id sorts after (so that every collector picks the same). Applied in
// any order, the leases of a pool leave each number with the one that ends
// last — its latest, as every lease ends a lease time after it was made —
// and each client with the number it was given last, as Lease left them. A
// lease that has ended only tells when its number was released.
func (p *Pool) Apply(client string, l Lease) Applied {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.byNumber[l.Number]
	if !ok {
		return Unknown
	}
	s := &p.slots[i]
	if !wins(client, l, s) {
		return Stale // a lease the number had before its latest, or the loser of a tie
	}
	out := Taken
	if s.client != client {
		if s.client != "" && !l.Shared && l.From.Before(s.to) {
			out = Conflict
		}
		p.release(i)
	}
	s.client, s.from, s.to = client, l.From, l.To
	p.hold(client, i)
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// wins reports whether client's lease l wins over the lease slot s holds.
func wins(client string, l Lease, s *slot) bool {
	switch {
	case !l.To.Equal(s.to):
		return l.To.After(s.to)
	case !l.From.Equal(s.from):
		return l.From.After(s.from)
	default:
		return client > s.client
	}
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

// Holder is the client that holds number at now, or "".
func (p *Pool) Holder(number string, now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.byNumber[number]; ok && p.slots[i].to.After(now) {
		return p.slots[i].client
	}
	return ""
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
