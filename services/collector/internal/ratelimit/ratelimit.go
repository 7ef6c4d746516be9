// Package ratelimit keeps a token bucket per write key, so one runaway
// sender — a misconfigured vendor retrying in a loop, a script gone wild —
// cannot take the collector's capacity from every other tenant.
//
// Buckets are keyed by the SHA-256 digest of the key, never the key itself,
// and are made only for keys the caller has already authenticated, so the
// table is bounded by the number of configured keys.
package ratelimit

import (
	"crypto/sha256"
	"math"
	"sync"
	"time"
)

// Limit is a token bucket's shape: PerSecond tokens are added every second up
// to Burst. PerSecond <= 0 means unlimited.
type Limit struct {
	PerSecond float64
	Burst     int
}

// burst is the bucket's capacity: at least one token, and at least one
// second's worth when Burst was left unset.
func (l Limit) burst() float64 {
	if l.Burst > 0 {
		return float64(l.Burst)
	}
	return math.Max(1, math.Ceil(l.PerSecond))
}

// Limiter holds the buckets. The zero value is not usable; call New.
type Limiter struct {
	mu      sync.Mutex
	buckets map[[32]byte]*bucket
	max     int // buckets kept at most; 0: no bound
}

type bucket struct {
	tokens float64
	last   time.Time
	limit  Limit
}

// New returns an empty limiter.
func New() *Limiter {
	return &Limiter{buckets: map[[32]byte]*bucket{}}
}

// NewBounded returns an empty limiter that keeps at most max buckets, for
// keys that are not configured (client addresses): past max, buckets that
// have refilled are forgotten first (forgetting one changes nothing), then
// any. Forgetting a bucket forgives its debt, so max should be well above
// the keys active within one refill.
func NewBounded(max int) *Limiter {
	return &Limiter{buckets: map[[32]byte]*bucket{}, max: max}
}

// evict makes room for one bucket; the caller holds mu.
func (l *Limiter) evict(now time.Time) {
	for d, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*b.limit.PerSecond >= b.limit.burst() {
			delete(l.buckets, d)
		}
	}
	for d := range l.buckets { // map order is random: a random tenth goes
		if len(l.buckets) < l.max-l.max/10 {
			break
		}
		delete(l.buckets, d)
	}
}

// Allow takes one token from key's bucket at now. When none is left it
// returns false and how long until one will be.
func (l *Limiter) Allow(key string, lim Limit, now time.Time) (ok bool, retryAfter time.Duration) {
	if lim.PerSecond <= 0 {
		return true, 0
	}
	d := sha256.Sum256([]byte(key))
	burst := lim.burst()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[d]
	if b == nil && l.max > 0 && len(l.buckets) >= l.max {
		l.evict(now)
	}
	if b == nil {
		b = &bucket{tokens: burst, last: now, limit: lim}
		l.buckets[d] = b
	}
	if b.limit != lim { // the tenant's limit changed: keep the tokens, within the new burst
		b.limit = lim
		b.tokens = math.Min(b.tokens, burst)
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(burst, b.tokens+elapsed.Seconds()*lim.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / lim.PerSecond * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
