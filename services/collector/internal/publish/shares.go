package publish

import (
	"crypto/sha256"
	"errors"
	"sync"
)

// ErrTenantShare means the request's tenant already holds its share of the
// bytes budget in bodies being read; the sender should retry later (429).
var ErrTenantShare = errors.New("tenant at its share of the collector's memory")

// ErrKeyShare means the request's key already holds its share of the bytes
// budget in bodies being read.
var ErrKeyShare = errors.New("key at its share of the collector's memory")

// Shares are the parts of the bytes budget request bodies may hold, so one
// sender — slow, or many at once — cannot take the memory every other needs.
type Shares struct {
	// Bodies is what all bodies together may hold; the rest of MaxBytes is
	// kept for records (events, and the dead letters of what is refused).
	Bodies int64
	// Tenant and Key are what the bodies of one tenant, and of one key,
	// may hold.
	Tenant int64
	Key    int64
}

// bodies accounts the bytes held by bodies being read, in total, per
// tenant and per key (by digest: keys are secrets).
type bodies struct {
	shares Shares
	mu     sync.Mutex
	total  int64
	tenant map[string]int64
	key    map[[32]byte]int64
}

// Reservation is the memory one request body holds while it is read and
// parsed. It grows as bytes arrive (Grow), so a sender that is slow, or
// sends less than it announced, holds only what it has sent.
type Reservation struct {
	p      *Publisher
	tenant string
	key    [32]byte
	held   int64
	mu     sync.Mutex
	done   bool
}

// Reserve starts an empty reservation for a body of tenant's, sent with key.
func (p *Publisher) Reserve(tenant, key string) *Reservation {
	return &Reservation{p: p, tenant: tenant, key: sha256.Sum256([]byte(key))}
}

// Grow holds n more bytes. It fails, holding nothing more, with
// ErrTenantShare or ErrKeyShare when the tenant's or the key's bodies hold
// their share, and with ErrOverloaded when the collector's budget is spent.
func (r *Reservation) Grow(n int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return errors.New("reservation already released")
	}
	b := &r.p.bodies
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.tenant[r.tenant]+n > b.shares.Tenant:
		return ErrTenantShare
	case b.key[r.key]+n > b.shares.Key:
		return ErrKeyShare
	case b.total+n > b.shares.Bodies:
		return ErrOverloaded
	}
	if !r.p.bytes.tryAcquire(n) {
		return ErrOverloaded
	}
	b.total += n
	b.tenant[r.tenant] += n
	b.key[r.key] += n
	r.held += n
	return nil
}

// Held is what the reservation holds.
func (r *Reservation) Held() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// Release gives everything held back. It is idempotent.
func (r *Reservation) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	b := &r.p.bodies
	b.mu.Lock()
	b.total -= r.held
	if b.tenant[r.tenant] -= r.held; b.tenant[r.tenant] == 0 {
		delete(b.tenant, r.tenant)
	}
	if b.key[r.key] -= r.held; b.key[r.key] == 0 {
		delete(b.key, r.key)
	}
	b.mu.Unlock()
	r.p.bytes.release(r.held)
	r.held = 0
}

// TenantBodies is what tenant's bodies being read hold now.
func (p *Publisher) TenantBodies(tenant string) int64 {
	p.bodies.mu.Lock()
	defer p.bodies.mu.Unlock()
	return p.bodies.tenant[tenant]
}

// Shares are the body shares the publisher enforces.
func (p *Publisher) Shares() Shares { return p.bodies.shares }
