package tables

import "github.com/throughline/throughline/pkg/chstore"

// CostsColumns are the columns of the costs table
// (schemas/clickhouse/0005_costs.sql) that the loader fills from the costs
// topic's envelopes (and the console's tests write directly), without the
// Kafka coordinates.
var CostsColumns = []chstore.Column{
	{Name: "tenant", Type: "LowCardinality(String)"}, {Name: "account", Type: "LowCardinality(String)"},
	{Name: "date", Type: "Date"}, {Name: "channel", Type: "LowCardinality(String)"},
	{Name: "source", Type: "String"}, {Name: "medium", Type: "String"},
	{Name: "campaign", Type: "String"}, {Name: "campaign_id", Type: "String"},
	{Name: "amount_minor", Type: "Int64"}, {Name: "currency", Type: "LowCardinality(String)"},
	{Name: "clicks", Type: "Int64"}, {Name: "impressions", Type: "Int64"}, {Name: "central", Type: "Bool"},
	{Name: "import_id", Type: "String"}, {Name: "row_id", Type: "String"},
	{Name: "kind", Type: "LowCardinality(String)"}, {Name: "import_rows", Type: "UInt32"},
	{Name: "upload", Type: "LowCardinality(String)"}, {Name: "imported_at", Type: "DateTime64(3, 'UTC')"},
}
