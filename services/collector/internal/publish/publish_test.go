package publish

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBudgetNeverExceeded(t *testing.T) {
	b := budget{max: 10}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10_000 {
				if b.tryAcquire(3) {
					if u := b.used.Load(); u > 10 {
						t.Errorf("used %d over max", u)
					}
					b.release(3)
				}
			}
		})
	}
	wg.Wait()
	if b.used.Load() != 0 || b.peak.Load() > 10 || b.peak.Load() < 3 {
		t.Fatalf("used %d peak %d", b.used.Load(), b.peak.Load())
	}
}

func TestPublishAndBudget(t *testing.T) {
	cl := kafkatest.StartEmpty(t, kfake.SeedTopics(1, "t")).Client(t, kgo.MaxBufferedRecords(10))
	p, err := New(cl, Config{MaxRecords: 3, MaxBytes: 1 << 20, Timeout: 5 * time.Second}, noop.NewMeterProvider().Meter(""))
	if err != nil {
		t.Fatal(err)
	}
	recs := func(n int) []*kgo.Record {
		out := make([]*kgo.Record, n)
		for i := range out {
			out[i] = &kgo.Record{Topic: "t", Value: []byte("v")}
		}
		return out
	}
	if err := p.Publish(context.Background(), recs(3)); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background(), recs(4)); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("4 records over a budget of 3: %v", err)
	}
	if err := p.Reserve("t", "k").Grow(2 << 20); err == nil { // over every share (each at most MaxBytes)
		t.Fatalf("reserved more bytes than the budget: %v", err)
	}
	res := p.Reserve("t", "k")
	if err := res.Grow(1 << 19); err != nil {
		t.Fatal(err)
	}
	res.Release()
	res.Release() // idempotent
	done := make(chan error, 1)
	pd, err := p.Start(context.Background(), recs(2), func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	if err := pd.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r, b := p.InFlight(); r != 0 || b != 0 {
		t.Fatalf("in flight after acks: %d records %d bytes", r, b)
	}
	// A topic the broker does not know fails the record, and the budget returns.
	p, err = New(cl, Config{MaxRecords: 3, MaxBytes: 1 << 20, Timeout: 300 * time.Millisecond}, noop.NewMeterProvider().Meter(""))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Publish(context.Background(), []*kgo.Record{{Topic: "missing", Value: []byte("v")}})
	if err == nil {
		t.Fatal("publishing to a missing topic succeeded")
	}
	// The budget returns when the client gives up on the record, which may be
	// just after the waiter's own timeout.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if r, _ := p.InFlight(); r == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d records in flight after failure", r)
		}
	}
}
