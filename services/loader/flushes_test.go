package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
)

// TestCrashedFlushRecoveredByTwoMembers: one flush inserts every partition
// of events under one token. The loader crashes with that flush recorded —
// before its insert, or after it and before the commit — and two loaders
// take the group over, each with some of the partitions. Whoever finds the
// flush first re-forms all of it (reading the other member's partitions
// straight from Kafka); the other's re-insert is dropped by its token. Had
// each inserted only its own share under the flush's token, the second
// share would be dropped and lost; under a token of its own, a flush
// already inserted would be duplicated.
func TestCrashedFlushRecoveredByTwoMembers(t *testing.T) {
	for _, when := range []string{"before insert", "after insert"} {
		t.Run(when, func(t *testing.T) {
			e := newEnv(t)
			e.produceEvents(120, accountPerPartition(), 3)
			cfg := e.config()
			cfg.MaxAge = time.Hour // one flush, cut by size
			cfg.MaxRows = 20
			l1 := e.newLoader(cfg, nil)
			crash := func() error { return errCrash }
			if when == "before insert" {
				l1.hooks.beforeInsert = crash
			} else {
				l1.hooks.afterInsert = crash
			}
			waitCrash(t, start(l1))
			flushes := e.count("SELECT uniqExact(flush) FROM " + e.db + ".loader_batches WHERE topic = '" + kafka.TopicRaw + "'")
			parts := e.count("SELECT uniqExact(partition) FROM " + e.db + ".loader_batches WHERE topic = '" + kafka.TopicRaw + "'")
			if flushes != 1 || parts != rawPartitions {
				t.Fatalf("recorded before the crash: %d flushes over %d partitions, want 1 over %d", flushes, parts, rawPartitions)
			}
			loaded := e.count("SELECT count() FROM " + e.db + ".events")
			if (when == "before insert") != (loaded == 0) {
				t.Fatalf("%s: %d rows loaded before the restart", when, loaded)
			}
			e.produceEvents(40, accountPerPartition(), 3)
			cfg.MaxAge = 20 * time.Millisecond
			r2, r3 := start(e.newLoader(cfg, nil)), start(e.newLoader(cfg, nil))
			e.waitCommitted("loader", kafka.TopicRaw, 160)
			for _, r := range []*running{r2, r3} {
				if err := r.stop(t); err != nil {
					t.Fatal(err)
				}
			}
			e.exactlyOnce(160)
		})
	}
}

// accountPerPartition names one account whose records land on each raw
// partition (the producer's default partitioner hashes the key).
func accountPerPartition() []string {
	part := kgo.StickyKeyPartitioner(nil).ForTopic(kafka.TopicRaw)
	out := make([]string, rawPartitions)
	for i, found := 0, 0; found < rawPartitions; i++ {
		a := fmt.Sprintf("b%d", i)
		if p := part.Partition(&kgo.Record{Key: []byte("t1/" + a)}, rawPartitions); out[p] == "" {
			out[p] = a
			found++
		}
	}
	return out
}

// fetched is how many records of the loader's partitions it has fetched
// (the high watermarks of its last fetches, the partitions starting at 0).
func (l *Loader) fetched() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, p := range l.parts {
		n += p.hwm
	}
	return n
}

// TestTrickleInsertsBounded: events trickle in one at a time, each fetched
// by a poll of its own, over every partition of the raw topic, with
// deduplication on. The engine gets one insert per table per flush — for
// events, its ids and the recorded ranges each — however many partitions
// the flush spans; a flush is due by size (a partition holding MaxRows) or
// age (an hour here: never during the test) or at shutdown. So 96 events
// over 4 partitions with MaxRows 12 cost 3 flushes: two by size, the rest
// at shutdown. One insert per partition would be 8 by size alone.
func TestTrickleInsertsBounded(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MaxAge, cfg.MaxRows, cfg.DedupWindow = time.Hour, 12, 7*24*time.Hour
	l := e.newLoader(cfg, nil)
	r := start(l)
	const n = 96
	spread := accountPerPartition()
	for i := range n {
		ev := e.envelope(spread[i%rawPartitions], 0)
		v, _ := json.Marshal(ev)
		e.produce(&kgo.Record{Topic: kafka.TopicRaw, Key: ev.Key(), Value: v})
		eventually.True(t, 30*time.Second, fmt.Sprintf("record %d fetched", i+1), func() bool { return l.fetched() >= int64(i+1) })
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(n)
	if parts := e.count("SELECT uniqExact(_partition) FROM " + e.db + ".events"); parts != rawPartitions {
		t.Fatalf("events over %d partitions, want %d", parts, rawPartitions)
	}
	const flushes = 3
	for _, c := range []struct{ kind, table string }{
		{"insert", "events"}, {"insert", "loader_batches"}, {"insert", "event_ids"}, {"query", "event_ids"},
	} {
		if got := l.met.statementCount(c.kind, c.table); got != flushes {
			t.Errorf("%s %s: %d statements for %d events in %d flushes, want %d", c.kind, c.table, got, n, flushes, flushes)
		}
	}
	if got := e.count("SELECT count() FROM " + e.db + ".loader_batches"); got != 8+rawPartitions {
		t.Errorf("%d ranges recorded, want one per partition per flush: %d", got, 8+rawPartitions)
	}
	if got := l.met.statementCount("query", "loader_batches"); got != rawPartitions {
		t.Errorf("%d reads of recorded ranges, want one per partition assigned: %d", got, rawPartitions)
	}
}

// TestRecoveryLoadsUnrecordedRecordsFirst: a partition resumes at offset 0
// with a range recorded only for offsets 5–9 — before flushes had ids (flush
// 0, re-formed alone under its old token) — and records 0–4 that no range
// covers, so were never inserted. They are loaded first as a new flush of
// their own, then the recorded range, each record once.
func TestRecoveryLoadsUnrecordedRecordsFirst(t *testing.T) {
	e := newEnv(t)
	e.produceEvents(12, accountPerPartition()[:1], 1)
	if err := e.store.Exec(context.Background(), "INSERT INTO "+e.db+".loader_batches (consumer, topic, partition, first_offset, last_offset, rows, flush) VALUES ('loader', '"+kafka.TopicRaw+"', 0, 5, 9, 5, 0)", nil); err != nil {
		t.Fatal(err)
	}
	r := start(e.newLoader(e.config(), nil))
	e.waitEvents(12)
	e.waitCommitted("loader", kafka.TopicRaw, 12)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(12)
	if got, want := e.ranges(), "0:0-4 0:5-9 0:10-11"; got != want {
		t.Fatalf("recorded ranges %q, want %q: the unrecorded records, the recorded range, then the rest", got, want)
	}
}
