package stitcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

// BenchmarkStitcher measures events/s through the stitcher with
// transactions, state and changelog, from records already in the raw topic.
// Compare with BenchmarkPassThrough, measured in the same run.
func BenchmarkStitcher(b *testing.B) {
	e := newEnv(b)
	e.produce(genEvents(9, b.N))
	cfg := e.config("bench")
	cfg.MaxPollRecords = 2000
	cfg.Lateness = 2 * time.Minute
	cfg.IdleFlush = 50 * time.Millisecond
	s := e.newStitcher(cfg)
	b.ResetTimer()
	cpu0 := cpuNow()
	began := time.Now()
	r := start(s)
	e.waitDone(s, cfg.Group)
	el := time.Since(began)
	b.ReportMetric(float64(cpuNow()-cpu0)/1e3/float64(b.N), "cpu-us/event")
	b.StopTimer()
	if err := r.stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}

// BenchmarkPassThrough is the baseline: a bare consumer group copying the
// same records to another topic with the project's producer options, no
// transactions, no state.
func BenchmarkPassThrough(b *testing.B) {
	e := newEnv(b)
	e.produce(genEvents(9, b.N))
	b.ResetTimer()
	cpu0 := cpuNow()
	began := time.Now()
	cl, err := kgo.NewClient(append(kafka.BaseOpts(e.kcfg, e.newStitcher(e.config("p")).log),
		append(kafka.ProducerOpts(20000),
			kgo.ConsumerGroup("passthrough"), kgo.ConsumeTopics(kafka.TopicRaw),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	n := 0
	for n < b.N {
		f := cl.PollRecords(ctx, 2000)
		var recs []*kgo.Record
		f.EachRecord(func(r *kgo.Record) {
			recs = append(recs, &kgo.Record{Topic: kafka.TopicSessions, Partition: r.Partition, Key: r.Key, Value: r.Value})
		})
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			b.Fatal(err)
		}
		n += len(recs)
	}
	el := time.Since(began)
	b.ReportMetric(float64(cpuNow()-cpu0)/1e3/float64(b.N), "cpu-us/event")
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}

// BenchmarkTransactionalPassThrough is the second baseline: the same copy
// as BenchmarkPassThrough, but with what the stitcher's output costs before
// any domain work — a consume-transform-produce transaction per poll
// (read-committed, offsets in the transaction) and three records out per
// event (the stitcher writes about 2.25 entity and 0.73 changelog records
// per event). The stitcher against it is the price of the domain itself.
func BenchmarkTransactionalPassThrough(b *testing.B) {
	e := newEnv(b)
	e.produce(genEvents(9, b.N))
	b.ResetTimer()
	cpu0 := cpuNow()
	began := time.Now()
	sess, err := kgo.NewGroupTransactSession(append(kafka.BaseOpts(e.kcfg, e.newStitcher(e.config("t")).log),
		append(kafka.ProducerOpts(20000),
			kgo.TransactionalID("bench-transactional-passthrough"), kgo.TransactionTimeout(10*time.Second),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumerGroup("transactional-passthrough"), kgo.ConsumeTopics(kafka.TopicRaw),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	ctx := context.Background()
	out := []string{kafka.TopicSessions, kafka.TopicAttribution, kafka.TopicStitcherState}
	n := 0
	for n < b.N {
		f := sess.PollRecords(ctx, 2000)
		if f.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			b.Fatal(err)
		}
		var perr error
		var mu sync.Mutex
		f.EachRecord(func(r *kgo.Record) {
			for _, topic := range out {
				sess.Produce(ctx, &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						perr = errors.Join(perr, err)
						mu.Unlock()
					}
				})
			}
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err = errors.Join(err, perr); err != nil || !committed {
			b.Fatalf("transaction: committed %v, %v", committed, err)
		}
		n += f.NumRecords()
	}
	el := time.Since(began)
	b.ReportMetric(float64(cpuNow()-cpu0)/1e3/float64(b.N), "cpu-us/event")
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}

// BenchmarkRestore measures reading a partition's state back from the
// changelog, reported per million clients.
func BenchmarkRestore(b *testing.B) {
	const clients = 20000
	e := newEnv(b)
	set := stitch.NewSet(stitch.DefaultRules())
	for i := range clients {
		for h := range 4 {
			ev := event.Envelope{V: 1, ID: fmt.Sprintf("e%d-%d", i, h), Tenant: "t", Account: fmt.Sprintf("a%d", i%20),
				Type: event.TypePageview, ClientID: fmt.Sprintf("c%d", i), URL: fmt.Sprintf("https://s.ru/p%d?yclid=%d", h, i%7),
				TS: t0 + int64(i)*1000 + int64(h)*60000}
			set.Add(ev)
		}
	}
	set.Flush()
	var recs []*kgo.Record
	for _, c := range set.TakeChanges() {
		recs = append(recs, &kgo.Record{Topic: kafka.TopicStitcherState, Partition: 0, Key: []byte(c.Key), Value: c.Value})
	}
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	s := e.newStitcher(e.config("restore"))
	admin, err := s.newAdmin()
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	s.admin = admin
	b.ResetTimer()
	for range b.N {
		sets, err := s.restore(context.Background(), []int32{0})
		if err != nil {
			b.Fatal(err)
		}
		if got := sets[0].Clients(); got != clients {
			b.Fatalf("restored %d clients, want %d", got, clients)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/clients*1e6, "s/1M-clients")
}

// cpuNow is the CPU time the test process (broker included) used so far, in
// nanoseconds: on a shared machine, CPU per event compares runs that
// events/s alone cannot.
func cpuNow() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkStitcherDomain is the domain alone on BenchmarkStitcher's
// events, without Kafka: applying them to the state, encoding the entity
// records, and taking the changelog records every 2,000 events (a
// transaction's worth of a poll).
func BenchmarkStitcherDomain(b *testing.B) {
	evs := genEvents(9, max(b.N, 2000))
	raw := make([][]byte, len(evs))
	for i := range evs {
		raw[i], _ = json.Marshal(&evs[i])
	}
	set := stitch.NewSet(stitch.DefaultRules())
	enc := &encoder{s: &Stitcher{topics: Config{}.topics()}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNow()
	for i := range b.N {
		e, err := event.DecodeFast(raw[i])
		if err != nil {
			b.Fatal(err)
		}
		if err := enc.add(set.Add(e)); err != nil {
			b.Fatal(err)
		}
		if i%2000 == 1999 {
			set.TakeChanges()
			enc.out = enc.out[:0]
		}
	}
	set.Flush()
	set.TakeChanges()
	b.ReportMetric(float64(cpuNow()-cpu0)/1e3/float64(b.N), "cpu-us/event")
}
