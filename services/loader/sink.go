package loader

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/contract/deadletter"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

// Sink maps one topic to one table.
type Sink struct {
	Topic string
	// Table is the table's name inside Config.Database.
	Table string
	// Columns are the columns Row fills, in order. The loader adds the
	// record's Kafka coordinates: _topic, _partition and _offset.
	Columns []chstore.Column
	// Row turns a record into the values of Columns. An error marks the
	// record as bad: it is skipped, never retried. It is called from several
	// goroutines at once.
	Row func(rec *kgo.Record) ([]any, error)
	// DeadLetter sends bad records to the dead-letter topic. A sink of the
	// dead-letter topic itself only logs and counts them, so a bad record
	// never loops.
	DeadLetter bool
	// ReceivedAt names the column holding when the pipeline accepted the
	// input (int64 Unix ms or time.Time); the loader reports freshness from
	// it. Optional.
	ReceivedAt string
	// IDColumn names the column holding the event id (a string) when the
	// sink drops repeated ids (docs/design/event-idempotency.md): the
	// topic's values are envelopes and its keys "tenant/account". Optional.
	IDColumn string
	// Envelopes marks a sink whose records are event envelopes laid out as
	// EventsColumns: on a store whose batches are typed (chstore.TypedBatch)
	// the loader writes them without Row's []any (typed.go).
	Envelopes bool
	// Quiet marks a table that gets a few rows at a time (dead letters,
	// costs, alerts): it is flushed after Config.QuietMaxAge, not MaxAge.
	Quiet bool
}

func (s Sink) validate() error {
	switch {
	case s.Topic == "":
		return errors.New("loader sink: topic required")
	case s.Table == "":
		return fmt.Errorf("loader sink %s: table required", s.Topic)
	case len(s.Columns) == 0:
		return fmt.Errorf("loader sink %s: columns required", s.Topic)
	case s.Row == nil:
		return fmt.Errorf("loader sink %s: row function required", s.Topic)
	case s.Envelopes && !slices.Equal(s.Columns, EventsColumns):
		return fmt.Errorf("loader sink %s: envelopes are written as EventsColumns only", s.Topic)
	}
	return nil
}

// coordinates are the columns every sink's table carries last.
var coordinates = []chstore.Column{{Name: "_topic", Type: "LowCardinality(String)"}, {Name: "_partition", Type: "UInt32"}, {Name: "_offset", Type: "UInt64"}}

// sink is a Sink resolved against the database.
type sink struct {
	Sink
	table      string // database-qualified, quoted
	cols       []chstore.Column
	receivedAt int // index in Row's values, -1 if none
	idCol      int // index of IDColumn in Row's values, -1 if none
}

func newSink(s Sink, db string) (*sink, error) {
	out := &sink{Sink: s, receivedAt: -1, idCol: -1,
		table: chstore.QuoteIdent(db) + "." + chstore.QuoteIdent(s.Table),
		cols:  append(append([]chstore.Column{}, s.Columns...), coordinates...),
	}
	if s.ReceivedAt != "" {
		for i, c := range s.Columns {
			if c.Name == s.ReceivedAt {
				out.receivedAt = i
			}
		}
		if out.receivedAt < 0 {
			return nil, fmt.Errorf("loader sink %s: received-at column %s is not among its columns", s.Topic, s.ReceivedAt)
		}
	}
	if s.IDColumn != "" {
		for i, c := range s.Columns {
			if c.Name == s.IDColumn {
				out.idCol = i
			}
		}
		if out.idCol < 0 {
			return nil, fmt.Errorf("loader sink %s: id column %s is not among its columns", s.Topic, s.IDColumn)
		}
	}
	return out, nil
}

// DefaultSinks are every topic the pipeline loads: raw events, dead letters,
// costs, the stitcher's entities and the alerter's alerts.
func DefaultSinks() []Sink {
	return append([]Sink{EventsSink(), DeadLettersSink(), CostsSink(), AlertsSink()}, EntitySinks()...)
}

// EventsColumns are the columns of the events table the loader fills.
var EventsColumns = []chstore.Column{
	{Name: "tenant", Type: "LowCardinality(String)"}, {Name: "account", Type: "LowCardinality(String)"},
	{Name: "event_id", Type: "String"}, {Name: "type", Type: "LowCardinality(String)"},
	{Name: "name", Type: "String"}, {Name: "source", Type: "LowCardinality(String)"},
	{Name: "ts", Type: "DateTime64(3, 'UTC')"}, {Name: "received_at", Type: "DateTime64(3, 'UTC')"},
	{Name: "client_id", Type: "String"}, {Name: "url", Type: "String"}, {Name: "referrer", Type: "String"},
	{Name: "utm_source", Type: "String"}, {Name: "utm_medium", Type: "String"}, {Name: "utm_campaign", Type: "String"},
	{Name: "utm_content", Type: "String"}, {Name: "utm_term", Type: "String"},
	{Name: "yclid", Type: "String"}, {Name: "gclid", Type: "String"}, {Name: "fbclid", Type: "String"}, {Name: "vkclid", Type: "String"},
	{Name: "click_ids", Type: "Map(String, String)"}, {Name: "user_agent", Type: "String"}, {Name: "ip", Type: "String"},
	{Name: "props", Type: "Map(String, String)"},
}

// EventsSink loads the raw topic's envelopes into the events table.
func EventsSink() Sink {
	return Sink{
		Topic: kafka.TopicRaw, Table: "events", Columns: EventsColumns,
		Row: eventRow, DeadLetter: true, ReceivedAt: "received_at", IDColumn: "event_id", Envelopes: true,
	}
}

func eventRow(rec *kgo.Record) ([]any, error) {
	e, err := event.DecodeFast(rec.Value)
	if err != nil {
		return nil, err
	}
	return envelopeRow(&e), nil
}

// envelopeRow maps an envelope to EventsColumns. The String columns get
// pointers into one array: a pointer goes into an interface without an
// allocation, a string does not (both stores take *string). LowCardinality
// columns get strings, which the server driver dictionary-encodes by value.
func envelopeRow(e *event.Envelope) []any {
	s := &[16]string{e.ID, e.Name, e.ClientID, e.URL, e.Referrer,
		e.UTM.Source, e.UTM.Medium, e.UTM.Campaign, e.UTM.Content, e.UTM.Term,
		e.ClickIDs["yclid"], e.ClickIDs["gclid"], e.ClickIDs["fbclid"], e.ClickIDs["vkclid"],
		e.UserAgent, e.IP}
	row := make([]any, 0, len(EventsColumns)+len(coordinates))
	return append(row,
		e.Tenant, e.Account, &s[0], e.Type, &s[1], e.Source, e.TS, e.ReceivedAt,
		&s[2], &s[3], &s[4], &s[5], &s[6], &s[7], &s[8], &s[9],
		&s[10], &s[11], &s[12], &s[13], e.ClickIDs, &s[14], &s[15], e.Props,
	)
}

// DeadLettersColumns are the columns of the dead_letters table the loader fills.
var DeadLettersColumns = []chstore.Column{
	{Name: "tenant", Type: "LowCardinality(String)"}, {Name: "account", Type: "LowCardinality(String)"},
	{Name: "source", Type: "LowCardinality(String)"}, {Name: "reason", Type: "String"},
	{Name: "received_at", Type: "DateTime64(3, 'UTC')"}, {Name: "payload", Type: "String"},
}

// DeadLettersSink loads the dead-letter topic into the dead_letters table.
func DeadLettersSink() Sink {
	return Sink{
		Topic: kafka.TopicDeadLetter, Table: "dead_letters", Columns: DeadLettersColumns,
		Row: deadLetterRow, ReceivedAt: "received_at", Quiet: true,
	}
}

func deadLetterRow(rec *kgo.Record) ([]any, error) {
	var d event.DeadLetter
	if err := json.Unmarshal(rec.Value, &d); err != nil {
		return nil, fmt.Errorf("decoding dead letter: %w", err)
	}
	if d.V != 1 {
		return nil, fmt.Errorf("decoding dead letter: unsupported version %d", d.V)
	}
	if d.Source == "" || d.Reason == "" {
		return nil, errors.New("decoding dead letter: missing source or reason")
	}
	row := make([]any, 0, len(DeadLettersColumns)+len(coordinates))
	return append(row, d.Tenant, d.Account, d.Source, d.Reason, d.ReceivedAt, d.Payload), nil
}

// deadLetterFor is the dead letter the loader produces for a bad record:
// the raw payload, why it was refused, and where it was read from.
func deadLetterFor(rec *kgo.Record, cause error) *kgo.Record {
	return deadletter.For("loader", rec, cause)
}
