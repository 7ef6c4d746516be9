package loader

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

// TestTypedRowsMatchRows: an envelope written by the typed path
// (writeEnvelope) lands as the same row as through envelopeRow's []any,
// which stores without typed batches use.
func TestTypedRowsMatchRows(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	evs := []event.Envelope{benchEnvelope(1), benchEnvelope(2), {
		V: event.Version, ID: "x", Tenant: "t", Account: "a", Type: event.TypeGoal, Name: "заявка\t\"q\"\n",
		Source: "api", TS: -1, ReceivedAt: 1 << 41, UTM: event.UTM{Content: "c", Term: "t"},
		ClickIDs: map[string]string{"gclid": "g", "fbclid": "f", "vkclid": "v", "other": "o"},
	}}
	s, err := newSink(EventsSink(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Exec(ctx, "CREATE TABLE "+e.db+".events_boxed AS "+e.db+".events", nil); err != nil {
		t.Fatal(err)
	}
	typed, err := e.store.PrepareInsert(ctx, s.table, s.cols, "")
	if err != nil {
		t.Fatal(err)
	}
	boxed, err := e.store.PrepareInsert(ctx, e.db+".events_boxed", s.cols, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		rec := &kgo.Record{Topic: kafka.TopicRaw, Partition: 3, Offset: int64(100 + i)}
		writeEnvelope(typed.(chstore.TypedBatch).Row(), &evs[i], rec)
		if err := boxed.Append(append(envelopeRow(&evs[i]), rec.Topic, uint32(rec.Partition), uint64(rec.Offset))...); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []chstore.Batch{typed, boxed} {
		if err := b.Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The columns the loader fills (not the table's defaults, such as the
	// time of the insert). Maps keep their keys in the order written, which
	// is Go's random map order on both paths: they are compared sorted.
	var names []string
	for _, c := range s.cols {
		if strings.HasPrefix(c.Type, "Map(") {
			names = append(names, "mapSort("+c.Name+")")
		} else {
			names = append(names, c.Name)
		}
	}
	cols := strings.Join(names, ", ")
	q := "SELECT count() FROM (SELECT " + cols + " FROM %s.%s EXCEPT SELECT " + cols + " FROM %s.%s)"
	for _, pair := range [][2]string{{"events", "events_boxed"}, {"events_boxed", "events"}} {
		if n := e.count(fmt.Sprintf(q, e.db, pair[0], e.db, pair[1])); n != 0 {
			t.Fatalf("%d rows of %s are not in %s", n, pair[0], pair[1])
		}
	}
	if n := e.count("SELECT count() FROM " + e.db + ".events"); n != len(evs) {
		t.Fatalf("%d typed rows, want %d", n, len(evs))
	}
}

// TestTypedRowThatDoesNotFitSpoilsTheBatch: a typed row with a value of
// the wrong type, or too few values, fails the batch's Send, naming the
// column, instead of writing a block whose columns disagree.
func TestTypedRowThatDoesNotFitSpoilsTheBatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cols := []chstore.Column{{Name: "tenant", Type: "String"}, {Name: "n", Type: "UInt32"}}
	if err := e.store.Exec(ctx, "CREATE TABLE "+e.db+".tiny (tenant String, n UInt32) ENGINE = Memory", nil); err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(w *chstore.RowWriter){
		"wrong type": func(w *chstore.RowWriter) { w.String("a"); w.String("b"); w.End() },
		"too few":    func(w *chstore.RowWriter) { w.String("a"); w.End() },
		"too many":   func(w *chstore.RowWriter) { w.String("a"); w.UInt(1); w.UInt(2); w.End() },
	} {
		b, err := e.store.PrepareInsert(ctx, e.db+".tiny", cols, "")
		if err != nil {
			t.Fatal(err)
		}
		write(b.(chstore.TypedBatch).Row())
		if err := b.Send(ctx); err == nil {
			t.Errorf("%s: Send accepted the batch", name)
		}
	}
	if n := e.count("SELECT count() FROM " + e.db + ".tiny"); n != 0 {
		t.Fatalf("%d rows inserted from spoilt batches", n)
	}
}
