package loader

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
)

// TestEntitySinks loads versions of stitcher entities, including a deletion,
// and reads the latest ones back with FINAL.
func TestEntitySinks(t *testing.T) {
	e := newEnv(t)
	rec := func(topic string, v any) *kgo.Record {
		b, _ := json.Marshal(v)
		return &kgo.Record{Topic: topic, Key: []byte("t/a"), Value: b}
	}
	m := func(v uint64, deleted bool) entity.Meta {
		return entity.Meta{Tenant: "t", Account: "a", Version: v, Deleted: deleted}
	}
	ts := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixMilli()
	e.produce(
		rec(kafka.TopicSessions, &entity.Session{Meta: m(1, false), SessionID: "s1", Start: ts, End: ts, Hits: 1, Channel: "direct"}),
		rec(kafka.TopicSessions, &entity.Session{Meta: m(3, false), SessionID: "s1", Start: ts, End: ts + 60000, Hits: 2, Channel: "direct"}),
		rec(kafka.TopicSessions, &entity.Session{Meta: m(2, false), SessionID: "s2", Start: ts, Hits: 1, Channel: "organic"}),
		rec(kafka.TopicSessions, &entity.Session{Meta: m(4, true), SessionID: "s2"}),
		rec(kafka.TopicLeads, &entity.Lead{Meta: m(5, false), LeadID: "l1", TS: ts, Kind: "form", Channel: "direct", RevenueMinor: 100}),
		rec(kafka.TopicDeals, &entity.Deal{Meta: m(6, false), DealID: "d1", LeadID: "l1", Outcome: "won", AmountMinor: 100, RevenueMinor: 100}),
		rec(kafka.TopicCalls, &entity.Call{Meta: m(7, false), CallID: "c1", TS: ts, Answered: true, TalkSec: 40, Target: true}),
		rec(kafka.TopicAttribution, &entity.Attribution{Meta: m(8, false), LeadID: "l1", Model: "linear", Touches: 1, LeadTS: ts, TouchTS: ts, Channel: "direct", Weight: 1, RevenueMinor: 100}),
		rec(kafka.TopicSessions, []byte(`"not an entity"`)),
	)
	cfg := e.config()
	cfg.Sinks = DefaultSinks()
	r := start(e.newLoader(cfg, nil))
	// Versions of one entity in one insert may already be merged
	// (optimize_on_insert), so wait for the offsets, not for row counts.
	eventually.True(t, 30*time.Second, "sessions loaded", func() bool { return e.count("SELECT count() FROM "+e.db+".sessions") > 0 })
	e.waitCommitted(cfg.Group, kafka.TopicSessions, 5)
	for _, tp := range []string{kafka.TopicLeads, kafka.TopicDeals, kafka.TopicCalls, kafka.TopicAttribution} {
		e.waitCommitted(cfg.Group, tp, 1)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := e.count("SELECT count() FROM " + e.db + ".sessions FINAL"); n != 1 {
		t.Errorf("sessions FINAL: %d rows, want 1 (s1 latest, s2 deleted)", n)
	}
	if n := e.count("SELECT hits FROM " + e.db + ".sessions_latest WHERE session_id = 's1'"); n != 2 {
		t.Errorf("latest s1 has %d hits, want 2", n)
	}
	for _, tb := range []string{"leads", "deals", "calls", "attribution"} {
		if n := e.count("SELECT count() FROM " + e.db + "." + tb + " FINAL"); n != 1 {
			t.Errorf("%s FINAL: %d rows, want 1", tb, n)
		}
	}
}
