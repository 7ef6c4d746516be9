// Package schemas embeds the ClickHouse migrations and the event JSON schemas
// so every binary carries the exact DDL it was built with.
package schemas

import "embed"

// ClickHouse holds clickhouse/NNNN_name.sql, applied in order at start.
//
//go:embed clickhouse/*.sql
var ClickHouse embed.FS

// ClickHouseDir is the directory of the migrations inside ClickHouse.
const ClickHouseDir = "clickhouse"

// Events holds the JSON schemas of the Kafka record values.
//
//go:embed events/*.json
var Events embed.FS
