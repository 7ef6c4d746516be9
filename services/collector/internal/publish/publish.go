// Package publish produces the collector's records to Kafka within a fixed
// budget of in-flight records and bytes. When the budget is spent — Kafka is
// slow or down — it refuses at once instead of queueing, so the collector's
// memory stays bounded and senders are told to retry.
package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
)

// ErrOverloaded means the in-flight budget is spent; the caller should tell
// the sender to retry later.
var ErrOverloaded = errors.New("collector at capacity")

// ErrTimeout means Kafka did not acknowledge in time. The records may still
// be written later: senders retry with the same event ids.
var ErrTimeout = errors.New("kafka did not acknowledge in time")

// Config bounds the publisher.
type Config struct {
	MaxRecords int64         // records produced and not yet acknowledged
	MaxBytes   int64         // bytes of those records plus request bodies being read
	Timeout    time.Duration // how long a publish may wait for acknowledgement
	// Shares bound request bodies within MaxBytes (Reserve); a zero field
	// is MaxBytes.
	Shares Shares
}

// Publisher produces records with a bounded number in flight.
type Publisher struct {
	cl      *kgo.Client
	cfg     Config
	records budget
	bytes   budget
	bodies  bodies
	latency metric.Float64Histogram
}

// New creates a publisher over a producer client built with kafka.ProducerOpts;
// its buffer must hold at least cfg.MaxRecords so producing never blocks.
func New(cl *kgo.Client, cfg Config, meter metric.Meter) (*Publisher, error) {
	lat, err := meter.Float64Histogram("throughline.collector.produce.duration",
		metric.WithDescription("time from producing a record to Kafka's acknowledgement"),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	if err != nil {
		return nil, fmt.Errorf("creating produce latency histogram: %w", err)
	}
	sh := cfg.Shares
	for _, v := range []*int64{&sh.Bodies, &sh.Tenant, &sh.Key} {
		if *v <= 0 || *v > cfg.MaxBytes {
			*v = cfg.MaxBytes
		}
	}
	return &Publisher{
		cl: cl, cfg: cfg, latency: lat,
		records: budget{max: cfg.MaxRecords},
		bytes:   budget{max: cfg.MaxBytes},
		bodies:  bodies{shares: sh, tenant: map[string]int64{}, key: map[[32]byte]int64{}},
	}, nil
}

// InFlight reports records and bytes currently held.
func (p *Publisher) InFlight() (records, bytes int64) {
	return p.records.used.Load(), p.bytes.used.Load()
}

// Peak reports the most records and bytes ever held at once.
func (p *Publisher) Peak() (records, bytes int64) {
	return p.records.peak.Load(), p.bytes.peak.Load()
}

// Pending is a set of produced records awaiting acknowledgement.
type Pending struct {
	remaining atomic.Int64
	done      chan struct{}
	mu        sync.Mutex
	err       error
	timeout   time.Duration
	onDone    func(error)
	cancel    context.CancelFunc // of the records' context, once all are answered
}

// Wait returns when every record is acknowledged (nil), one failed (its
// error), ctx ended, or the publish timeout passed (ErrTimeout).
func (pd *Pending) Wait(ctx context.Context) error {
	t := time.NewTimer(pd.timeout)
	defer t.Stop()
	select {
	case <-pd.done:
		pd.mu.Lock()
		defer pd.mu.Unlock()
		return pd.err
	case <-t.C:
		return ErrTimeout
	case <-ctx.Done():
		return fmt.Errorf("waiting for kafka: %w", ctx.Err())
	}
}

func (pd *Pending) finish(err error) {
	if err != nil {
		pd.mu.Lock()
		if pd.err == nil {
			pd.err = err
		}
		pd.mu.Unlock()
	}
	if pd.remaining.Add(-1) == 0 {
		pd.cancel()
		close(pd.done)
		if pd.onDone != nil {
			pd.mu.Lock()
			err := pd.err
			pd.mu.Unlock()
			pd.onDone(err)
		}
	}
}

// Publish produces recs and waits for Kafka to acknowledge all of them.
func (p *Publisher) Publish(ctx context.Context, recs []*kgo.Record) error {
	pd, err := p.Start(ctx, recs, nil)
	if err != nil {
		return err
	}
	return pd.Wait(ctx)
}

// Start produces recs without waiting; onDone, if not nil, is called with
// the first error (or nil) once Kafka has answered for every record — from
// the producer's promise goroutine, so it must be quick and must not block. It takes their records and bytes from
// the budget, all or none, and returns ErrOverloaded when they do not fit;
// the budget is given back as Kafka answers for each record, whether or not
// anyone waits. Records carry the trace context of ctx, and they are not
// abandoned when ctx is canceled (a visitor closing the page must not lose
// the hit): they live until acknowledged or the publish timeout.
func (p *Publisher) Start(ctx context.Context, recs []*kgo.Record, onDone func(error)) (*Pending, error) {
	var size int64
	for _, r := range recs {
		kafka.InjectTrace(ctx, r)
		size += recordSize(r)
	}
	n := int64(len(recs))
	if n == 0 {
		return nil, errors.New("publishing: no records")
	}
	if !p.records.tryAcquire(n) {
		return nil, ErrOverloaded
	}
	if !p.bytes.tryAcquire(size) {
		p.records.release(n)
		return nil, ErrOverloaded
	}
	pd := &Pending{done: make(chan struct{}), timeout: p.cfg.Timeout, onDone: onDone}
	pd.remaining.Store(n)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.Timeout)
	pd.cancel = cancel
	start := time.Now()
	for _, r := range recs {
		sz := recordSize(r)
		p.cl.TryProduce(pctx, r, func(r *kgo.Record, err error) {
			p.latency.Record(context.Background(), time.Since(start).Seconds())
			p.records.release(1)
			p.bytes.release(sz)
			if err != nil {
				err = fmt.Errorf("producing to %s: %w", r.Topic, err)
			}
			pd.finish(err)
		})
	}
	return pd, nil
}

func recordSize(r *kgo.Record) int64 {
	n := int64(len(r.Key) + len(r.Value) + 64) // 64: record overhead in the client
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

// budget is a non-blocking counting semaphore that remembers its peak.
type budget struct {
	max  int64
	used atomic.Int64
	peak atomic.Int64
}

func (b *budget) tryAcquire(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			for {
				pk := b.peak.Load()
				if u+n <= pk || b.peak.CompareAndSwap(pk, u+n) {
					return true
				}
			}
		}
	}
}

func (b *budget) release(n int64) { b.used.Add(-n) }
