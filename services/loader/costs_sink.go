package loader

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/contract/tables"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

// CostsColumns are the columns of the costs table the loader fills
// (schemas/clickhouse/0005_costs.sql), defined with the table's contract.
var CostsColumns = tables.CostsColumns

// Kinds of rows in the costs table.
const (
	costKindRow    = "row"
	costKindCommit = "commit"
)

// CostsSink loads the costs topic's envelopes into the costs table. Both the
// rows and the commit records of imports land there; the costs_current view
// makes the latest complete import of a day the one that counts.
func CostsSink() Sink {
	return Sink{
		Topic: kafka.TopicCosts, Table: "costs", Columns: CostsColumns,
		Row: costRow, DeadLetter: true, ReceivedAt: "imported_at", Quiet: true,
	}
}

// epochDay is the date of commit rows, which belong to no day.
var epochDay = time.Unix(0, 0).UTC()

func costRow(rec *kgo.Record) ([]any, error) {
	// event.Decode, not the loader's fast envelope decoder: that one reads
	// only the fields of the events table and skips the cost record.
	e, err := event.Decode(rec.Value)
	if err != nil {
		return nil, err
	}
	c := e.Cost
	switch {
	case e.Type != event.TypeCost || c == nil:
		return nil, fmt.Errorf("decoding cost: envelope %s is of type %q without a cost record", e.ID, e.Type)
	case c.ImportID == "":
		return nil, errors.New("decoding cost: import_id missing")
	case c.ImportRows < 0:
		return nil, errors.New("decoding cost: negative import_rows")
	}
	kind, day := costKindRow, epochDay
	if c.Commit {
		kind = costKindCommit
	} else {
		if day, err = time.Parse("2006-01-02", c.Date); err != nil {
			return nil, fmt.Errorf("decoding cost: date %q: %w", c.Date, err)
		}
		if c.Channel == "" {
			return nil, errors.New("decoding cost: channel missing")
		}
	}
	row := make([]any, 0, len(CostsColumns)+len(coordinates))
	return append(row,
		e.Tenant, e.Account, day, c.Channel, c.Source, c.Medium, c.Campaign, c.CampaignID,
		c.Amount, c.Currency, c.Clicks, c.Impressions, c.Central, c.ImportID, e.ID,
		kind, uint32(c.ImportRows), e.Source, e.ReceivedAt,
	), nil
}
