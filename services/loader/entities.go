package loader

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/contract/tables"
)

// EntitySinks load the stitcher's entity topics (sessions, calls, leads,
// deals, attribution) into their ReplacingMergeTree tables; records that are
// not entities go to the dead-letter topic. DefaultSinks includes them.
func EntitySinks() []Sink {
	var out []Sink
	for _, t := range tables.All() {
		row := t.Row
		out = append(out, Sink{
			Topic: t.Topic, Table: t.Table, Columns: t.Columns, DeadLetter: true,
			Row: func(rec *kgo.Record) ([]any, error) { return row(rec.Value) },
		})
	}
	return out
}
