package stitcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

const testPartitions = 4

type env struct {
	t       testing.TB
	cluster *kafkatest.Cluster
	kcfg    kafka.Config
	prod    *kgo.Client
	events  [testPartitions][]event.Envelope // per raw partition, in offset order
	bad     int64
}

func newEnv(t testing.TB, suffixes ...string) *env {
	t.Helper()
	e := &env{t: t}
	e.open(suffixes)
	return e
}

// open starts the env's broker (with opts, e.g. a data dir) and producer.
func (e *env) open(suffixes []string, opts ...kfake.Opt) {
	e.t.Helper()
	names := []string{kafka.TopicRaw}
	for _, sfx := range append([]string{""}, suffixes...) {
		names = append(names, Config{TopicSuffix: sfx}.topics().all()...)
	}
	e.cluster = kafkatest.Start(e.t, append([]kfake.Opt{kfake.SeedTopics(testPartitions, names...),
		kfake.SeedTopics(2, kafka.TopicDeadLetter)}, opts...)...)
	e.kcfg = e.cluster.Config("stitcher-test")
	e.prod = e.cluster.Client(e.t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
}

func partitionOf(key string) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32() % testPartitions)
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixMilli()

// genEvents makes n events of a few accounts: visits from several channels,
// forms, calls and CRM deals, with phones shared between devices.
func genEvents(seed uint64, n int) []event.Envelope {
	rng := rand.New(rand.NewPCG(seed, 11))
	urls := []string{"https://s.ru/?yclid=%d", "https://s.ru/?gclid=%d", "https://s.ru/?utm_source=vk&utm_medium=paid&utm_campaign=c%d", "https://s.ru/p%d"}
	ts := t0
	out := make([]event.Envelope, 0, n)
	for i := range n {
		ts += rng.Int64N(int64(10 * time.Minute / time.Millisecond))
		e := event.Envelope{V: 1, ID: fmt.Sprintf("e%d-%06d", seed, i), Tenant: "t", Account: fmt.Sprintf("a%d", rng.IntN(8)),
			Source: "api", TS: ts, ReceivedAt: ts}
		ci := rng.IntN(n/10 + 1)
		client := fmt.Sprintf("c%d", ci)
		phone := fmt.Sprintf("+7916%07d", ci) // a visitor's own phone, and now and then another's (merging two)
		if rng.IntN(20) == 0 {
			phone = fmt.Sprintf("+7916%07d", rng.IntN(n/10+1))
		}
		switch r := rng.IntN(100); {
		case r < 75:
			e.Type, e.ClientID, e.URL = event.TypePageview, client, fmt.Sprintf(urls[rng.IntN(len(urls))], rng.IntN(4))
		case r < 85:
			e.Type, e.Name, e.ClientID, e.Phone = event.TypeGoal, "form", client, phone
		case r < 93:
			e.Type = event.TypeCall
			e.Call = &event.Call{CallID: "k" + e.ID, Provider: "generic", CallerPhone: phone, Answered: true, TalkSec: rng.IntN(90)}
			if rng.IntN(2) == 0 {
				e.Call.ClientIDs = []string{client}
			} else {
				e.Call.Channel = "avito"
			}
		default:
			e.Type = event.TypeCRM
			e.CRM = &event.CRM{Provider: "amocrm", Entity: "deal", DealID: fmt.Sprintf("d%d", rng.IntN(n/30+1)),
				Phones: []string{phone}, Outcome: []string{"open", "won", "lost"}[rng.IntN(3)], Amount: int64(rng.IntN(50)+1) * 1000,
				UpdatedAt: ts - rng.Int64N(int64(time.Hour/time.Millisecond))}
		}
		out = append(out, e)
	}
	return out
}

// produce writes events to the raw topic, an account to one partition.
func (e *env) produce(evs []event.Envelope) {
	e.t.Helper()
	var recs []*kgo.Record
	for i := range evs {
		v, _ := json.Marshal(&evs[i])
		p := partitionOf(string(evs[i].Key()))
		recs = append(recs, &kgo.Record{Topic: kafka.TopicRaw, Partition: p, Key: evs[i].Key(), Value: v})
		e.events[p] = append(e.events[p], evs[i])
	}
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// produceBad writes a record that is not an envelope.
func (e *env) produceBad() {
	e.bad++
	if err := e.prod.ProduceSync(context.Background(), &kgo.Record{Topic: kafka.TopicRaw, Key: []byte("t/a0"), Value: []byte("{nope")}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) config(id string) Config {
	c := DefaultConfig()
	c.TransactionalID = "stitcher-" + id
	c.InstanceID = "" // dynamic membership unless a test asks for static
	c.Lateness = 0
	c.IdleFlush = 100 * time.Millisecond
	c.MaxPollRecords = 300
	c.TransactionTimeout = 20 * time.Second
	c.RestoreTimeout = 30 * time.Second
	return c
}

func (e *env) newStitcher(cfg Config) *Stitcher {
	e.t.Helper()
	tel := telemetry.Nop()
	if os.Getenv("STITCHER_TEST_LOG") != "" {
		tel.Log = zerolog.New(os.Stderr).With().Timestamp().Str("instance", cfg.TransactionalID).Logger().Level(zerolog.InfoLevel)
	}
	s, err := New(cfg, Deps{Tel: tel, Kafka: e.kcfg})
	if err != nil {
		e.t.Fatal(err)
	}
	s.hooks.clientOpts = append(s.hooks.clientOpts, kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.SessionTimeout(6*time.Second), kgo.RebalanceTimeout(10*time.Second))
	return s
}

// want is the output of the same events through the domain alone: per
// output topic and partition, the record values in order.
func (e *env) want(rules stitch.Rules, suffix string) map[string][][]byte {
	out := map[string][][]byte{}
	tp := Config{TopicSuffix: suffix}.topics()
	s := &Stitcher{topics: tp}
	for p := range int32(testPartitions) {
		set := stitch.NewSet(rules)
		var recs []stitch.Record
		for _, ev := range e.events[p] {
			recs = append(recs, set.Add(ev)...)
		}
		recs = append(recs, set.Flush()...)
		for _, r := range recs {
			v, _ := json.Marshal(r.Value)
			k := seqKey(s.topicOf(r.Kind), p, v)
			out[k] = append(out[k], v)
		}
	}
	return out
}

// seqKey names the sequence a record belongs to: its topic, partition and
// account. Within an account the order of records is the order of the
// events; across accounts it depends on when idle partitions were flushed.
func seqKey(topic string, p int32, v []byte) string {
	var m struct {
		Account string `json:"account"`
	}
	_ = json.Unmarshal(v, &m)
	return fmt.Sprintf("%s/%d/%s", topic, p, m.Account)
}

// got reads the entity topics read-committed up to their stable end.
func (e *env) got(suffix string) map[string][][]byte {
	e.t.Helper()
	tp := Config{TopicSuffix: suffix}.topics()
	topics := []string{tp.sessions, tp.calls, tp.leads, tp.deals, tp.attribution}
	adm := kadm.NewClient(e.prod)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ends kadm.ListedOffsets
	eventually.True(e.t, 30*time.Second, "no open transaction on the entity topics", func() bool {
		stable, err1 := adm.ListCommittedOffsets(ctx, topics...)
		high, err2 := adm.ListEndOffsets(ctx, topics...)
		if err1 != nil || err2 != nil {
			return false
		}
		same := true
		high.Each(func(o kadm.ListedOffset) {
			if st, _ := stable.Lookup(o.Topic, o.Partition); st.Offset != o.Offset {
				same = false
			}
		})
		ends = stable
		return same
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kcfg.Brokers...), kgo.ConsumeTopics(topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	// Reading has its own deadline: the wait above may have used most of
	// its own, and a race build on a busy machine decompresses slowly.
	ctx, cancelRead := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelRead()
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left++
		}
	})
	out := map[string][][]byte{}
	for left > 0 {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("reading entity topics: %v (%d partitions left)", ctx.Err(), left)
		}
		f.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				k := seqKey(r.Topic, r.Partition, r.Value)
				out[k] = append(out[k], r.Value)
			}
			if end, ok := ends.Lookup(r.Topic, r.Partition); ok && r.Offset == end.Offset-1 {
				left--
			}
		})
	}
	return out
}

// sameOutput compares per topic-partition record sequences.
func sameOutput(t testing.TB, want, got map[string][][]byte) {
	t.Helper()
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	total := 0
	for _, k := range sorted {
		w, g := want[k], got[k]
		total += len(w)
		if len(w) != len(g) {
			i := 0
			for i < min(len(w), len(g)) && bytes.Equal(w[i], g[i]) {
				i++
			}
			t.Errorf("%s: %d records, want %d; first difference at %d", k, len(g), len(w), i)
			if i < min(len(w), len(g)) {
				t.Logf(" got %s\nwant %s", g[i], w[i])
			}
			continue
		}
		for i := range w {
			if !bytes.Equal(w[i], g[i]) {
				t.Errorf("%s record %d:\n got %s\nwant %s", k, i, g[i], w[i])
				break
			}
		}
	}
	if total == 0 {
		t.Error("no output at all")
	}
}

// running is a stitcher started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(s *Stitcher) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	return r
}

func (r *running) stop() error {
	r.cancel()
	return <-r.done
}

// committed is the group's committed offsets summed over the raw topic.
func (e *env) total() int64 {
	n := 0
	for _, evs := range e.events {
		n += len(evs)
	}
	return int64(n)
}

// waitDone waits until the group committed every raw record and s applied
// everything it buffered.
func (e *env) waitDone(s *Stitcher, group string) {
	e.t.Helper()
	eventually.True(e.t, 90*time.Second, "all input committed and applied", func() bool {
		pending, _, unrestored := s.sizes()
		s.mu.Lock()
		owned := len(s.parts)
		s.mu.Unlock()
		return owned == testPartitions && unrestored == 0 && pending == 0 && s.idle.Load() &&
			e.cluster.Committed(group, kafka.TopicRaw) == e.total()+e.bad
	})
}
