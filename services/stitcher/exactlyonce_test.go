package stitcher

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var errCrash = errors.New("injected crash")

// faults makes kfake fail a share of the transactional requests: produce
// connections dropped (retried by the idempotent producer), offset commits
// inside the transaction answered REBALANCE_IN_PROGRESS (the transaction
// aborts and the state is read back), EndTxn answered with a retriable error.
type faults struct {
	produce, commit, end atomic.Int64
	on                   atomic.Bool
}

func injectFaults(c *kafkatest.Cluster, seed uint64) *faults {
	f := &faults{}
	f.on.Store(true)
	var mu sync.Mutex
	counts := map[int]int{}
	roll := func(n int) bool { // every n-th request of a kind, offset by the seed
		mu.Lock()
		defer mu.Unlock()
		counts[n]++
		return (counts[n]+int(seed))%n == 0
	}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !f.on.Load() || req.(*kmsg.ProduceRequest).TransactionID == nil || !roll(15) {
			return nil, nil, false
		}
		f.produce.Add(1)
		return nil, errors.New("injected: connection dropped"), true
	})
	c.ControlKey(int16(kmsg.TxnOffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !f.on.Load() || !roll(4) {
			return nil, nil, false
		}
		f.commit.Add(1)
		r := req.(*kmsg.TxnOffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		resp.Version = r.Version
		for _, t := range r.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.RebalanceInProgress.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !f.on.Load() || !roll(8) {
			return nil, nil, false
		}
		f.end.Add(1)
		r := req.(*kmsg.EndTxnRequest)
		resp := r.ResponseKind().(*kmsg.EndTxnResponse)
		resp.Version = r.Version
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp, nil, true
	})
	return f
}

// crashAfter makes a stitcher crash before ending its n-th transaction,
// leaving it open, as a killed process would.
func crashAfter(s *Stitcher, n int64) {
	var rounds atomic.Int64
	s.hooks.beforeEnd = func() error {
		if rounds.Add(1) == n {
			return errCrash
		}
		return nil
	}
}

// TestExactlyOnceThroughCrashesAndFaults streams events while stitchers are
// killed (before a commit, or by cancellation at a random moment) and
// restarted, with kfake failing produce, offset-commit and end-transaction
// requests. The entity topics, read committed, must hold exactly what the
// domain computes from the input: every input reflected once, in order.
func TestExactlyOnceThroughCrashesAndFaults(t *testing.T) {
	e := newEnv(t)
	f := injectFaults(e.cluster, 1)
	cfg := e.config("a")
	cfg.InstanceID = "stitcher-a"
	rng := rand.New(rand.NewPCG(2, 2))
	evs := genEvents(2, 6000)
	crashes := 0
	for round := 0; round < 10; round++ {
		e.produce(evs[round*600 : (round+1)*600])
		if round == 3 {
			e.produceBad()
		}
		s := e.newStitcher(cfg)
		wait := time.Duration(50+rng.IntN(400)) * time.Millisecond
		if round%2 == 0 {
			crashAfter(s, 1+rng.Int64N(3))
			wait = 10 * time.Second
		}
		r := start(s)
		select {
		case err := <-r.done:
			if !errors.Is(err, errCrash) {
				t.Logf("round %d: stitcher returned %v (restarting)", round, err)
			}
			r.cancel()
			crashes++
		case <-time.After(wait):
			if err := r.stop(); err != nil && !errors.Is(err, errCrash) {
				t.Logf("round %d: stitcher stopped with %v (restarting)", round, err)
			}
		}
	}
	s := e.newStitcher(cfg)
	r := start(s)
	e.waitDone(s, cfg.Group)
	f.on.Store(false)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("faults injected: %d crashes, %d produce, %d offset commit, %d end txn", crashes, f.produce.Load(), f.commit.Load(), f.end.Load())
	if f.commit.Load() == 0 || f.produce.Load() == 0 || crashes == 0 {
		t.Errorf("the faults never fired (or no crash: %d)", crashes)
	}
	sameOutput(t, e.want(rulesOf(cfg), ""), e.got(""))
}

// TestTwoInstancesRebalancing runs two stitchers of one group that join,
// leave and crash in turns while events stream in; the output is exactly
// what one uninterrupted pass computes.
func TestTwoInstancesRebalancing(t *testing.T) {
	e := newEnv(t)
	cfg := e.config("x")
	evs := genEvents(3, 4000)
	ids := []string{"one", "two"}
	runs := map[string]*running{}
	for round := 0; round < 8; round++ {
		e.produce(evs[round*500 : (round+1)*500])
		id := ids[round%2]
		if r := runs[id]; r != nil {
			if err := r.stop(); err != nil && !errors.Is(err, errCrash) {
				t.Fatalf("round %d: %s: %v", round, id, err)
			}
		}
		c := cfg
		c.TransactionalID = "stitcher-" + id
		c.InstanceID = "stitcher-" + id // static members: a restart takes its partitions back
		s := e.newStitcher(c)
		if round == 5 {
			crashAfter(s, 3)
		}
		runs[id] = start(s)
		time.Sleep(300 * time.Millisecond)
	}
	for _, id := range ids {
		if err := runs[id].stop(); err != nil && !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
	}
	s := e.newStitcher(cfg)
	r := start(s)
	e.waitDone(s, cfg.Group)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	sameOutput(t, e.want(rulesOf(cfg), ""), e.got(""))
}
