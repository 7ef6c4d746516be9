package loader

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/event"
)

// The typed path of the events table: envelopes decoded into reused
// structs (their strings views of the record's value, not copies) and written
// column by column into the batch, with no []any per row and no value boxed
// in an interface. envelopeRow is the same row for stores whose batches are
// not typed (a ClickHouse server); TestTypedRowsMatchRows holds them equal.

// prepareEnvelopes appends a batch of envelopes to ins (when not nil) and
// notes its bad records, as prepareBatch does for []any rows.
func (l *Loader) prepareEnvelopes(b *batch, ins chstore.TypedBatch) {
	i := -1
	eachDecoded(l.cfg.Workers, b.recs, decodeEnvelope, func(rec *kgo.Record, e *event.Envelope, err error) {
		i++
		if b.dedup != nil && b.dedup.dup[i] {
			return // a repeat: neither a row nor a dead letter
		}
		if err == nil && b.dedup != nil && b.dedup.ids[i] != "" && b.dedup.ids[i] != e.ID {
			err = fmt.Errorf("event id ambiguous: %q read first, %q decoded", b.dedup.ids[i], e.ID)
		}
		if err != nil {
			b.bad = append(b.bad, badRecord{rec, err})
			return
		}
		if ins != nil {
			writeEnvelope(ins.Row(), e, rec)
		}
		b.rows++
		if b.received != nil {
			b.received = append(b.received, e.ReceivedAt)
		}
	})
}

// decodeEnvelope decodes a record's envelope as views of its value: the
// strings are copied into the insert block at once, and the record is held,
// unmodified, until its flush is done.
func decodeEnvelope(rec *kgo.Record, e *event.Envelope) error {
	return event.DecodeView(rec.Value, e)
}

// writeEnvelope writes an envelope as EventsColumns and the record's
// coordinates: envelopeRow's row, value by value.
func writeEnvelope(w *chstore.RowWriter, e *event.Envelope, rec *kgo.Record) {
	w.String(e.Tenant)
	w.String(e.Account)
	w.String(e.ID)
	w.String(e.Type)
	w.String(e.Name)
	w.String(e.Source)
	w.DateTime64Milli(e.TS)
	w.DateTime64Milli(e.ReceivedAt)
	w.String(e.ClientID)
	w.String(e.URL)
	w.String(e.Referrer)
	w.String(e.UTM.Source)
	w.String(e.UTM.Medium)
	w.String(e.UTM.Campaign)
	w.String(e.UTM.Content)
	w.String(e.UTM.Term)
	w.String(e.ClickIDs["yclid"])
	w.String(e.ClickIDs["gclid"])
	w.String(e.ClickIDs["fbclid"])
	w.String(e.ClickIDs["vkclid"])
	w.StringMap(e.ClickIDs)
	w.String(e.UserAgent)
	w.String(e.IP)
	w.StringMap(e.Props)
	w.String(rec.Topic)
	w.UInt(uint64(rec.Partition))
	w.UInt(uint64(rec.Offset))
	w.End()
}
