package e2e

import (
	"context"
	"testing"
	"time"
)

// TestShutdownLosesNothingAccepted: the all-in-one is stopped with SIGTERM
// while batches are in flight and started again; its shutdown order
// (collector, producer flush, stitcher, loader: app.Run) leaves every event
// the collector acknowledged before the signal in events exactly once, and
// every visitor with one session and one lead.
func TestShutdownLosesNothingAccepted(t *testing.T) {
	n := newNode(t)
	n.start()
	s := newSender(n.collector, n.writeKeys(), "stop")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := make(chan struct{})
	wg := s.run(ctx, stop, 4)

	const stops = 2
	for range stops {
		time.Sleep(time.Second)
		for deadline := time.Now().Add(2 * time.Second); s.inFlight.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		n.stop()
		n.start()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("batches were not acknowledged within 90 s")
	}
	s.mu.Lock()
	acked, clients, batches := s.acked, s.clients, s.batches
	s.mu.Unlock()
	t.Logf("shutdown: %d graceful stops, %d batches (%d events) acknowledged", stops, batches, len(acked))
	if batches < 10 {
		t.Fatalf("only %d batches acknowledged; the load did not run", batches)
	}
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", tail(n.logs.String(), 4000))
		}
	}()
	n.checkOnce(t, "stop", acked, clients)
}
