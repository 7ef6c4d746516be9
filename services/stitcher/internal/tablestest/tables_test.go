package tablestest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/contract/tables"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/schemas/chstoretest"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

// TestTablesReadLatest loads every version the stitcher emitted, including
// superseding deletions, into the real engine and checks that FINAL (and the
// *_latest views) show exactly the latest entities.
func TestTablesReadLatest(t *testing.T) {
	ctx := context.Background()
	store := engine
	chstoretest.Migrate(t, store, "tl")

	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixMilli()
	min := int64(time.Minute / time.Millisecond)
	ev := func(id, typ string, at int64, f func(*event.Envelope)) event.Envelope {
		e := event.Envelope{V: 1, ID: id, Tenant: "acme", Account: "msk", Type: typ, TS: t0 + at, ReceivedAt: t0 + at}
		f(&e)
		return e
	}
	hit := func(id, client string, at int64, url string) event.Envelope {
		return ev(id, "pageview", at, func(e *event.Envelope) { e.ClientID, e.URL = client, url })
	}
	evs := []event.Envelope{
		hit("h1", "A", 0, "https://s.ru/?yclid=1"),
		hit("h3", "A", 50*min, "https://s.ru/b"), // a second session until h2 arrives
		hit("h4", "B", 51*min, "https://s.ru/?gclid=2"),
		ev("f1", "goal", 52*min, func(e *event.Envelope) { e.Name, e.ClientID, e.Phone = "form", "B", "+79160000001" }),
		ev("f2", "goal", 53*min, func(e *event.Envelope) { e.Name, e.ClientID, e.Phone = "form", "A", "+79160000001" }),
		ev("d1", "crm", 60*min, func(e *event.Envelope) {
			e.CRM = &event.CRM{Provider: "amocrm", Entity: "deal", DealID: "1", ClientID: "A", Outcome: "won", Amount: 100000}
		}),
		ev("c1", "call", 70*min, func(e *event.Envelope) {
			e.Call = &event.Call{CallID: "k1", Provider: "generic", CallerPhone: "+79160000001", Answered: true, TalkSec: 40, ClientIDs: []string{"A"}}
		}),
		hit("h2", "A", 25*min, "https://s.ru/a"), // late: joins the two sessions of A into one
	}
	rules := stitch.DefaultRules()
	set := stitch.NewSet(rules)
	var recs []stitch.Record
	for _, e := range evs {
		recs = append(recs, set.Add(e)...)
	}
	recs = append(recs, set.Flush()...)

	byName := map[string]tables.Table{}
	for _, tb := range tables.All() {
		byName[tb.Table] = tb
	}
	kindTable := map[string]string{stitch.KindSession: "sessions", stitch.KindCall: "calls", stitch.KindLead: "leads",
		stitch.KindDeal: "deals", stitch.KindAttribution: "attribution"}
	latest := map[string]map[string]bool{} // table → id → alive
	batches := map[string]chstore.Batch{}
	coords := []chstore.Column{{Name: "_topic", Type: "LowCardinality(String)"}, {Name: "_partition", Type: "UInt32"}, {Name: "_offset", Type: "UInt64"}}
	for i, r := range recs {
		name := kindTable[r.Kind]
		tb := byName[name]
		b := batches[name]
		if b == nil {
			var err error
			if b, err = store.PrepareInsert(ctx, "tl."+name, append(append([]chstore.Column{}, tb.Columns...), coords...), ""); err != nil {
				t.Fatal(err)
			}
			batches[name] = b
		}
		v, _ := json.Marshal(r.Value)
		row, err := tb.Row(v)
		if err != nil {
			t.Fatal(err)
		}
		if len(row) != len(tb.Columns) {
			t.Fatalf("%s: %d values for %d columns", name, len(row), len(tb.Columns))
		}
		if err := b.Append(append(row, tb.Topic, uint32(0), uint64(i))...); err != nil {
			t.Fatal(err)
		}
		if latest[name] == nil {
			latest[name] = map[string]bool{}
		}
		var m struct {
			Deleted bool `json:"deleted"`
		}
		_ = json.Unmarshal(v, &m)
		latest[name][r.ID] = !m.Deleted
	}
	for name, b := range batches {
		if err := b.Send(ctx); err != nil {
			t.Fatalf("inserting %s: %v", name, err)
		}
	}
	deletions := 0
	for name, ids := range latest {
		alive := 0
		for _, ok := range ids {
			if ok {
				alive++
			} else {
				deletions++
			}
		}
		for _, q := range []string{
			fmt.Sprintf("SELECT count() FROM tl.%s FINAL", name),
			fmt.Sprintf("SELECT count() FROM tl.%s_latest", name),
		} {
			res, err := store.Query(ctx, q, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Rows[0][0]); got != fmt.Sprint(alive) {
				t.Errorf("%s: %s rows, want %d", q, got, alive)
			}
		}
	}
	if deletions == 0 {
		t.Error("the scenario superseded nothing; it should re-cut a session")
	}
	// Attributed revenue over channels equals the won revenue, read back.
	res, err := store.Query(ctx, `SELECT model, sum(revenue_minor), sum(weight) FROM tl.attribution FINAL GROUP BY model ORDER BY model`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 6 {
		t.Fatalf("models: %v", res.Rows)
	}
	for _, row := range res.Rows {
		if fmt.Sprint(row[1]) != "100000" || fmt.Sprint(row[2]) != "1" {
			t.Errorf("model %v: revenue %v, weights %v", row[0], row[1], row[2])
		}
	}
}
