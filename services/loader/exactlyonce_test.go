package loader

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
)

var accounts = []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11", "a12"}

// crashOnRound makes the loader crash after the inserts of its n-th flush,
// before their offsets are committed.
func crashOnRound(l *Loader, n int32) {
	var rounds atomic.Int32
	l.hooks.afterInsert = func() error {
		if rounds.Add(1) == n {
			return errCrash
		}
		return nil
	}
}

func waitCrash(t *testing.T, r *running) {
	t.Helper()
	select {
	case err := <-r.done:
		if err != errCrash {
			t.Fatalf("loader returned %v, want the injected crash", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("loader did not crash")
	}
	r.cancel()
}

// TestCrashBetweenInsertAndCommit crashes after ClickHouse accepted the
// first flush and before the commit. Batches span three months, so each is
// split into three parts by the table's PARTITION BY; one holds a bad record.
func TestCrashBetweenInsertAndCommit(t *testing.T) {
	e := newEnv(t)
	e.produce(&kgo.Record{Topic: kafka.TopicRaw, Key: []byte("t1/a1"), Value: []byte("{broken")})
	e.produceEvents(600, accounts, 3)
	cfg := e.config()
	cfg.MaxRows = 50
	l1 := e.newLoader(cfg, nil)
	crashOnRound(l1, 1)
	waitCrash(t, start(l1))
	loaded := e.count("SELECT count() FROM " + e.db + ".events")
	if loaded == 0 || e.cluster.Committed("loader", kafka.TopicRaw) != 0 {
		t.Fatalf("before restart: %d rows loaded, %d committed; want some rows and no commit", loaded, e.cluster.Committed("loader", kafka.TopicRaw))
	}
	e.produceEvents(200, accounts, 3)
	r2 := start(e.newLoader(cfg, nil))
	e.waitEvents(800)
	e.waitCommitted("loader", kafka.TopicRaw, 801)
	q := "SELECT count() FROM " + e.db + ".dead_letters"
	eventually.True(t, 30*time.Second, "the dead letter loaded", func() bool { return e.count(q) >= 1 })
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(800)
	if n := e.count(q); n != 1 {
		t.Fatalf("%d dead letters for one bad record", n)
	}
}

// ranges lists the recorded batch ranges of the raw topic's partitions, in order.
func (e *env) ranges() string {
	e.t.Helper()
	res, err := e.store.Query(context.Background(), "SELECT partition, first_offset, last_offset FROM "+e.db+
		".loader_batches FINAL WHERE topic = {t:String} ORDER BY partition, first_offset", map[string]string{"t": kafka.TopicRaw})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range res.Rows {
		out = append(out, fmt.Sprintf("%v:%v-%v", r[0], r[1], r[2]))
	}
	return strings.Join(out, " ")
}

// TestRestartAfterAgeFlush: a small batch flushed by age is inserted, then
// the loader crashes. More records arrive; the restarted loader would
// naturally form one bigger batch from the committed offset, with a new
// token. It must re-form the recorded batch first.
func TestRestartAfterAgeFlush(t *testing.T) {
	for _, control := range []bool{false, true} {
		t.Run(map[bool]string{false: "recorded", true: "control without the record"}[control], func(t *testing.T) {
			e := newEnv(t)
			e.produceEvents(5, []string{"a1"}, 2)
			cfg := e.config()
			cfg.MaxAge = 20 * time.Millisecond
			l1 := e.newLoader(cfg, nil)
			crashOnRound(l1, 1)
			waitCrash(t, start(l1))
			first := e.ranges()
			e.exactlyOnce(5)
			if control {
				if err := e.store.Exec(context.Background(), "TRUNCATE TABLE "+e.db+".loader_batches", nil); err != nil {
					t.Fatal(err)
				}
			}
			e.produceEvents(20, []string{"a1"}, 2)
			cfg.MaxAge = time.Second // the restart sees all 25 records at once
			r2 := start(e.newLoader(cfg, nil))
			e.waitCommitted("loader", kafka.TopicRaw, 25)
			if err := r2.stop(t); err != nil {
				t.Fatal(err)
			}
			if control {
				// Without the write-ahead record the restart re-inserts the first
				// batch's rows under a new token: this is what the design prevents.
				if n := e.count("SELECT count() FROM " + e.db + ".events"); n <= 25 {
					t.Fatalf("control: %d rows; expected duplicates without the recorded range", n)
				}
				return
			}
			e.exactlyOnce(25)
			all := e.ranges()
			if !strings.HasPrefix(all, first+" ") || strings.HasSuffix(first, "-24") {
				t.Fatalf("ranges before the crash %q, after the restart %q: want the first re-formed, then the rest", first, all)
			}
		})
	}
}

// TestTwoLoadersShareTheGroup runs two loaders in one group while records
// arrive; the first crashes half-way and the second takes its partitions.
func TestTwoLoadersShareTheGroup(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.MaxRows = 40
	e.produceEvents(400, accounts, 2)
	l1 := e.newLoader(cfg, nil)
	crashOnRound(l1, 4)
	r1 := start(l1)
	e.waitEvents(1)
	l2 := e.newLoader(cfg, nil)
	var l2Rounds atomic.Int32
	l2.hooks.afterInsert = func() error { l2Rounds.Add(1); return nil }
	r2 := start(l2)
	total := 400
	for i := 0; i < 10; i++ {
		e.produceEvents(60, accounts, 2)
		total += 60
		e.waitEvents(total - 60) // keep both loaders flushing while records arrive
	}
	waitCrash(t, r1)
	if l2Rounds.Load() == 0 {
		t.Fatal("the second loader loaded nothing while the first ran: the partitions were not shared")
	}
	e.produceEvents(200, accounts, 2)
	total += 200
	e.waitEvents(total)
	e.waitCommitted("loader", kafka.TopicRaw, int64(total))
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(total)
}

// TestCommitFailures makes Kafka refuse every offset commit: rows are
// loaded, nothing is committed, and a restart reads everything again and
// still loads each record once.
func TestCommitFailures(t *testing.T) {
	e := newEnv(t)
	var failing atomic.Bool
	failing.Store(true)
	var refused atomic.Int32
	e.cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		refused.Add(1)
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownServerError.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	cfg := e.config()
	cfg.MaxRows = 30
	e.produceEvents(500, accounts, 3)
	r1 := start(e.newLoader(cfg, nil))
	e.waitEvents(500)
	eventually.True(t, 30*time.Second, "refused commits", func() bool { return refused.Load() > 0 })
	if err := r1.stop(t); err != nil {
		t.Fatal(err)
	}
	if c := e.cluster.Committed("loader", kafka.TopicRaw); c != 0 {
		t.Fatalf("%d offsets committed through a refusing broker", c)
	}
	e.exactlyOnce(500)
	failing.Store(false)
	e.produceEvents(100, accounts, 3)
	r2 := start(e.newLoader(cfg, nil))
	e.waitEvents(600)
	e.waitCommitted("loader", kafka.TopicRaw, 600)
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(600)
	if n := e.count("SELECT count() FROM " + e.db + ".loader_batches FINAL"); n < 17 {
		t.Fatalf("%d recorded ranges, want at least one per 30 records", n)
	}
}
