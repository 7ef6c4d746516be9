package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
)

// repeat is the record of an envelope the test sends again as a sender's
// retry would: same key and id, a new Kafka record.
func (e *env) record(ev event.Envelope, at time.Time) *kgo.Record {
	v, _ := json.Marshal(ev)
	return &kgo.Record{Topic: kafka.TopicRaw, Key: ev.Key(), Value: v, Timestamp: at}
}

func dedupConfig(e *env) Config {
	cfg := e.config()
	cfg.DedupWindow = 7 * 24 * time.Hour
	cfg.MaxRows = 7
	return cfg
}

// TestRepeatedIDsLoadOnce: events whose ids were already accepted — in the
// same batch, an earlier batch or an earlier run — are not loaded again and
// are not dead letters; the same id under another account, or outside the
// window, is a different event.
func TestRepeatedIDsLoadOnce(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	var recs []*kgo.Record
	var firsts []event.Envelope
	for i := 0; i < 30; i++ {
		ev := e.envelope(accounts[i%3], 0)
		firsts = append(firsts, ev)
		recs = append(recs, e.record(ev, now))
		if i%3 == 0 {
			recs = append(recs, e.record(ev, now)) // repeated at once: often the same batch
		}
	}
	for _, ev := range firsts[:10] {
		recs = append(recs, e.record(ev, now.Add(time.Minute))) // later batches
	}
	other := firsts[0]
	other.Account = "a4" // the same id for another account is another event
	recs = append(recs, e.record(other, now))
	late := firsts[1]
	recs = append(recs, e.record(late, now.Add(8*24*time.Hour))) // outside the window: accepted again
	e.produce(recs...)

	cfg := dedupConfig(e)
	r := start(e.newLoader(cfg, nil))
	e.waitAllCommitted(int64(len(recs)))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	want := 30 + 1 + 1
	if n := e.count("SELECT count() FROM " + e.db + ".events"); n != want {
		t.Fatalf("events: %d rows, want %d (30 ids, one for another account, one outside the window)", n, want)
	}
	if n := e.count("SELECT uniqExact(tenant, account, event_id) FROM " + e.db + ".events"); n != 31 {
		t.Fatalf("events: %d distinct (tenant, account, id), want 31", n)
	}
	if n := e.count("SELECT count() FROM " + e.db + ".events WHERE event_id = '" + late.ID + "' AND account = '" + late.Account + "'"); n != 2 {
		t.Fatalf("the id repeated 8 days later: %d rows, want 2", n)
	}
	if n := e.count("SELECT count() FROM " + e.db + ".dead_letters"); n != 0 {
		t.Fatalf("%d dead letters; repeats are not dead letters", n)
	}

	// A second run: the same ids sent again days later are still repeats.
	var again []*kgo.Record
	for _, ev := range firsts[10:20] {
		again = append(again, e.record(ev, now.Add(2*24*time.Hour)))
	}
	fresh := e.envelope("a1", 0)
	again = append(again, e.record(fresh, now.Add(2*24*time.Hour)))
	e.produce(again...)
	r = start(e.newLoader(cfg, nil))
	e.waitAllCommitted(int64(len(recs) + len(again)))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := e.count("SELECT count() FROM " + e.db + ".events"); n != want+1 {
		t.Fatalf("after the second run: %d rows, want %d", n, want+1)
	}
}

// TestRepeatedIDsAcrossCrash: the loader crashes after inserting and before
// committing; the restarted loader re-forms the batches, whose repeats it
// must drop exactly as before, so the re-formed inserts are the same blocks.
func TestRepeatedIDsAcrossCrash(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	var recs []*kgo.Record
	var evs []event.Envelope
	for i := 0; i < 200; i++ {
		ev := e.envelope(accounts[i%4], i%3)
		evs = append(evs, ev)
		recs = append(recs, e.record(ev, now))
		if i%5 == 0 {
			recs = append(recs, e.record(evs[i/2], now)) // a repeat of an earlier one
		}
	}
	e.produce(recs...)
	cfg := dedupConfig(e)
	// A round takes what is buffered in every partition: small polls make
	// several rounds, so the crash comes after earlier rounds' ids are in.
	cfg.MaxRows, cfg.MaxPollRecords = 25, 60
	l1 := e.newLoader(cfg, nil)
	crashOnRound(l1, 2)
	waitCrash(t, start(l1))
	if e.count("SELECT count() FROM "+e.db+".events") == 0 {
		t.Fatal("nothing inserted before the crash")
	}
	r := start(e.newLoader(cfg, nil))
	e.waitAllCommitted(int64(len(recs)))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(200)
}

// TestAmbiguousIDIsRefused: a hand-made record whose value carries two "id"
// keys was deduplicated by the first; it is dead-lettered, not loaded under
// the second.
func TestAmbiguousIDIsRefused(t *testing.T) {
	e := newEnv(t)
	ev := e.envelope("a1", 0)
	v, _ := json.Marshal(ev)
	v = append(v[:len(v)-1], []byte(`,"id":"other"}`)...)
	e.produce(&kgo.Record{Topic: kafka.TopicRaw, Key: ev.Key(), Value: v})
	r := start(e.newLoader(dedupConfig(e), nil))
	e.waitAllCommitted(1)
	q := "SELECT count() FROM " + e.db + ".dead_letters WHERE reason LIKE '%event id ambiguous%'"
	eventually.True(t, 30*time.Second, "the dead letter", func() bool { return e.count(q) == 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := e.count("SELECT count() FROM " + e.db + ".events"); n != 0 {
		t.Fatalf("%d rows loaded from an ambiguous record", n)
	}
}

// waitAllCommitted waits until the loader group committed n raw offsets,
// including while the group does not exist yet.
func (e *env) waitAllCommitted(n int64) {
	e.t.Helper()
	eventually.True(e.t, 60*time.Second, fmt.Sprintf("%d raw offsets committed", n), func() bool {
		offs, err := e.adm.FetchOffsets(context.Background(), "loader")
		if err != nil {
			return false
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == kafka.TopicRaw && o.Err == nil && o.At > 0 {
				sum += o.At
			}
		})
		return sum == n
	})
}
