package ratelimit

import (
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestBurstThenRefill(t *testing.T) {
	l := New()
	lim := Limit{PerSecond: 2, Burst: 3}
	for i := range 3 {
		if ok, _ := l.Allow("k", lim, t0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("k", lim, t0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused for 500ms", ok, wait)
	}
	if ok, _ := l.Allow("k", lim, t0.Add(499*time.Millisecond)); ok {
		t.Fatal("a token appeared early")
	}
	if ok, _ := l.Allow("k", lim, t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("the refilled token was refused")
	}
	// A long pause refills up to the burst, not beyond.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow("k", lim, later); !ok {
			t.Fatalf("request %d after a pause refused", i)
		}
	}
	if ok, _ := l.Allow("k", lim, later); ok {
		t.Fatal("the bucket grew beyond its burst")
	}
}

func TestKeysAreIndependent(t *testing.T) {
	l := New()
	lim := Limit{PerSecond: 1, Burst: 1}
	if ok, _ := l.Allow("a", lim, t0); !ok {
		t.Fatal("a refused")
	}
	if ok, _ := l.Allow("a", lim, t0); ok {
		t.Fatal("a allowed twice")
	}
	if ok, _ := l.Allow("b", lim, t0); !ok {
		t.Fatal("b suffered from a's bucket")
	}
	if l.Len() != 2 {
		t.Fatalf("%d buckets", l.Len())
	}
}

func TestUnlimitedAndDefaultBurst(t *testing.T) {
	l := New()
	for range 1000 {
		if ok, _ := l.Allow("k", Limit{}, t0); !ok {
			t.Fatal("an unlimited key was refused")
		}
	}
	if l.Len() != 0 {
		t.Fatal("an unlimited key holds a bucket")
	}
	// Burst unset: one second's worth.
	lim := Limit{PerSecond: 2.5}
	n := 0
	for {
		ok, _ := l.Allow("k", lim, t0)
		if !ok {
			break
		}
		n++
	}
	if n != 3 {
		t.Fatalf("default burst %d, want 3", n)
	}
}

func TestLimitChangeKeepsTokensWithinNewBurst(t *testing.T) {
	l := New()
	l.Allow("k", Limit{PerSecond: 100, Burst: 100}, t0)
	small := Limit{PerSecond: 1, Burst: 2}
	n := 0
	for {
		if ok, _ := l.Allow("k", small, t0); !ok {
			break
		}
		n++
	}
	if n != 2 {
		t.Fatalf("after lowering the limit %d requests passed, want 2", n)
	}
}

func TestConcurrentCallersSpendExactlyTheBurst(t *testing.T) {
	l := New()
	lim := Limit{PerSecond: 1, Burst: 50}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := l.Allow("k", lim, t0); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("%d allowed, want exactly the burst of 50", allowed)
	}
}

// A bounded limiter forgets refilled buckets first, and never holds more
// than its bound, however many keys (client addresses) come by.
func TestBoundedForgetsRefilledBucketsFirst(t *testing.T) {
	l := NewBounded(10)
	lim := Limit{PerSecond: 1, Burst: 1}
	l.Allow("debtor", lim, t0.Add(9*time.Second)) // spent, and not refilled at t0+9s
	for i := range 9 {
		l.Allow(string(rune('a'+i)), lim, t0) // spent at t0, refilled by t0+9s
	}
	if l.Len() != 10 {
		t.Fatalf("%d buckets", l.Len())
	}
	l.Allow("new", lim, t0.Add(9*time.Second))
	if l.Len() != 2 {
		t.Fatalf("%d buckets after eviction, want the debtor and the new one", l.Len())
	}
	if ok, _ := l.Allow("debtor", lim, t0.Add(9*time.Second)); ok {
		t.Fatal("the debtor's bucket was forgotten")
	}
	for i := range 100 {
		l.Allow(string(rune(1000+i)), lim, t0.Add(9*time.Second))
	}
	if l.Len() > 10 {
		t.Fatalf("%d buckets over a bound of 10", l.Len())
	}
}
