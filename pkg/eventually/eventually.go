// Package eventually waits in tests for a condition that another goroutine
// (a service under test, a broker, the engine) makes true, failing the test
// with what it waited for when the time runs out. Every service's tests use
// this one wait instead of a copy each.
package eventually

import (
	"testing"
	"time"
)

// maxPoll bounds the pause between two checks: short enough that a test
// goes on soon after the condition holds, long enough that a condition
// asking a broker or the engine does not keep them busy.
const maxPoll = 20 * time.Millisecond

// True checks cond until it holds, first often, then every 20 ms; when
// timeout passes first it fails the test with "timed out after <timeout>
// waiting for <what>". The timeout only bounds a broken run: it is no
// assertion of speed.
func True(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPoll)
	}
}
