package stitcher

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerCrashWithAnOpenTransaction is the all-in-one's SIGKILL: the
// embedded broker dies with the stitcher while a transaction holds records
// on the changelog and an entity topic. On restart kfake aborts that
// transaction in its index but writes no abort marker, so a read-committed
// reader never sees the changelog's tail, and (franz-go waiting for the
// marker) would drop every later batch of the same producer id. The
// restarted stitcher must still restore, and its output must be exactly
// what the domain computes from the input.
func TestBrokerCrashWithAnOpenTransaction(t *testing.T) {
	dir := t.TempDir()
	e := &env{t: t}
	e.open(nil, kfake.DataDir(dir), kfake.SyncWrites())
	cfg := e.config("crash")
	evs := genEvents(4, 1200)
	e.produce(evs[:600])
	s := e.newStitcher(cfg)
	r := start(s)
	e.waitDone(s, cfg.Group)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	// The crashed instance's last transaction: flushed, never ended.
	zombie, err := kgo.NewClient(kgo.SeedBrokers(e.kcfg.Brokers...), kgo.TransactionalID(cfg.TransactionalID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	topics := cfg.topics()
	for p := range int32(testPartitions) {
		for _, rec := range []*kgo.Record{
			{Topic: topics.state, Partition: p, Key: []byte("t/a0/zombie"), Value: []byte("not a state")},
			{Topic: topics.sessions, Partition: p, Key: []byte("t/a0"), Value: []byte(`{"zombie":true}`)},
		} {
			if err := zombie.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	zombie.Close() // no EndTxn

	// The broker dies without closing; a new one opens the same data.
	e.prod.Close()
	e.open(nil, kfake.DataDir(dir), kfake.SyncWrites())
	e.produce(evs[600:])
	// What the all-in-one does: its broker aborted every open transaction
	// when it restarted, so nothing needs fencing, and a new producer id
	// keeps readers clear of the old one's unmarked abort.
	cfg.TransactionalID = FreshTransactionalID(cfg.TransactionalID)
	s = e.newStitcher(cfg)
	r = start(s)
	e.waitDone(s, cfg.Group)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	sameOutput(t, e.want(rulesOf(cfg), ""), e.got(""))
}
