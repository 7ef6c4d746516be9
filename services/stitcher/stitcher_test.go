package stitcher

import (
	"testing"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

func rulesOf(cfg Config) stitch.Rules {
	r := stitch.DefaultRules()
	r.Lateness = cfg.Lateness
	return r
}

// TestOneInstance: the output topics hold exactly what the domain computes
// from the same input, partition by partition.
func TestOneInstance(t *testing.T) {
	e := newEnv(t)
	e.produce(genEvents(1, 1500))
	e.produceBad()
	cfg := e.config("a")
	s := e.newStitcher(cfg)
	r := start(s)
	e.waitDone(s, cfg.Group)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	sameOutput(t, e.want(rulesOf(cfg), ""), e.got(""))
}

// TestTransactionsGatherPolls: with a backlog a transaction takes several
// full polls, never more than TxnRecords input records, and the output is
// the same as poll-by-poll transactions give.
func TestTransactionsGatherPolls(t *testing.T) {
	e := newEnv(t)
	e.produce(genEvents(4, 4000))
	cfg := e.config("gather")
	cfg.MaxPollRecords, cfg.TxnRecords = 100, 1000
	s := e.newStitcher(cfg)
	var txns, most, last int64
	s.hooks.beforeEnd = func() error { // before this transaction ends: the previous ones are committed
		now := e.cluster.Committed(cfg.Group, kafka.TopicRaw)
		txns++
		most = max(most, now-last)
		last = now
		return nil
	}
	r := start(s)
	e.waitDone(s, cfg.Group)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if most > int64(cfg.TxnRecords) {
		t.Errorf("a transaction committed %d input records, more than stitcher-txn-records %d", most, cfg.TxnRecords)
	}
	if polls := e.total() / int64(cfg.MaxPollRecords); txns >= polls {
		t.Errorf("%d transactions for %d full polls: none gathered polls", txns, polls)
	}
	t.Logf("%d transactions, at most %d input records in one", txns, most)
	sameOutput(t, e.want(rulesOf(cfg), ""), e.got(""))
}

// TestEncoderKeys: every entity record is keyed by its own account, when
// records of accounts alternate too.
func TestEncoderKeys(t *testing.T) {
	s := &Stitcher{topics: Config{}.topics(), met: &metrics{}}
	enc := &encoder{s: s}
	var recs []stitch.Record
	for i, acc := range []string{"a1", "a1", "a2", "a1", "a10"} {
		m := entity.Meta{Tenant: "t", Account: acc, Version: uint64(i + 1)}
		recs = append(recs, stitch.Record{Kind: stitch.KindSession, Value: &entity.Session{Meta: m}},
			stitch.Record{Kind: stitch.KindAttribution, Value: &entity.Attribution{Meta: m}})
	}
	if err := enc.add(recs); err != nil {
		t.Fatal(err)
	}
	for i, r := range enc.out {
		if want := "t/" + metaOf(recs[i].Value).Account; string(r.Key) != want {
			t.Errorf("record %d: key %q, want %q", i, r.Key, want)
		}
	}
}
