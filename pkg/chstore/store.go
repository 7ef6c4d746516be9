// Package chstore is Throughline's one interface to ClickHouse, with two
// implementations chosen by configuration: the embedded engine (chDB, in
// process) and a ClickHouse server (clickhouse-go/v2, native protocol). Both
// run the same DDL and the same queries.
package chstore

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/throughline/throughline/pkg/flagenv"
)

// Store is what services need from ClickHouse.
type Store interface {
	// Exec runs one statement that returns no rows (DDL, INSERT … SELECT).
	Exec(ctx context.Context, query string, params Params) error
	// Query runs one statement and returns its rows.
	Query(ctx context.Context, query string, params Params) (*Result, error)
	// PrepareInsert starts a batch insert into table. A non-empty dedupToken
	// makes the insert idempotent: sending the same rows with the same token
	// again inserts nothing (the table needs a deduplication window).
	PrepareInsert(ctx context.Context, table string, cols []Column, dedupToken string) (Batch, error)
	// Ping checks the store answers.
	Ping(ctx context.Context) error
	Close() error
}

// Batch collects rows for one insert.
type Batch interface {
	// Append adds one row; values follow the column order given to PrepareInsert.
	Append(values ...any) error
	// Rows is how many rows were appended.
	Rows() int
	// Send inserts the rows. A batch is sent at most once.
	Send(ctx context.Context) error
}

// Params bind {name:Type} placeholders in a query. Values are given as plain
// Go strings; the store escapes them for the engine.
type Params map[string]string

// Column is a column name and its ClickHouse type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Result is a query's columns and rows. Values are decoded from JSON: strings,
// json.Number for numbers, bools, nil, []any and map[string]any.
type Result struct {
	Columns []Column `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// escapeParam writes a value in ClickHouse's escaped text form, the form in
// which the engine parses query-parameter values.
func escapeParam(v string) string {
	if !strings.ContainsAny(v, "\\\n\t\r\x00\b\f") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\0`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func escapeParams(p Params) map[string]string {
	if len(p) == 0 {
		return nil
	}
	out := make(map[string]string, len(p))
	for k, v := range p {
		out[k] = escapeParam(v)
	}
	return out
}

// QuoteIdent quotes an identifier for use in generated SQL.
func QuoteIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
}

// quoteString quotes a string literal.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

func columnList(cols []Column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = QuoteIdent(c.Name)
	}
	return strings.Join(names, ", ")
}

func structure(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = QuoteIdent(c.Name) + " " + c.Type
	}
	return strings.Join(parts, ", ")
}

// Config selects and configures a store.
type Config struct {
	// Mode is "embedded" (chDB in process) or "server" (clickhouse-go).
	Mode string
	// DataDir is the embedded engine's data directory.
	DataDir string
	// Addr is host:port of a ClickHouse server: its native protocol
	// (9000), or its HTTP interface (8123) when Protocol is "http".
	Addr string
	// Protocol is "native" (default) or "http": ClickHouse's HTTP
	// interface, which a ClickHouse server and the embedded engine's
	// listener (pkg/chhttp, `throughline clickhouse`) both serve.
	Protocol string
	User     string
	Password string
	// Database is where Throughline's tables live.
	Database string
}

// Validate names the setting that is wrong.
func (c Config) Validate() error {
	switch c.Mode {
	case "embedded":
		if c.DataDir == "" {
			return fmt.Errorf("clickhouse data dir: required in embedded mode")
		}
	case "server":
		if c.Addr == "" {
			return fmt.Errorf("clickhouse addr: required in server mode (host:9000)")
		}
		if c.Protocol != "" && c.Protocol != "native" && c.Protocol != "http" {
			return fmt.Errorf("clickhouse protocol: %q is not native or http", c.Protocol)
		}
	default:
		return fmt.Errorf("clickhouse mode: %q is not embedded or server", c.Mode)
	}
	if c.Database == "" {
		return fmt.Errorf("clickhouse database: required")
	}
	return nil
}

// Open opens the store the config selects.
func Open(ctx context.Context, c Config) (Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Mode == "embedded" {
		return OpenEmbedded(c.DataDir)
	}
	return OpenServer(ctx, c)
}

// RegisterFlags registers the ClickHouse settings on fs (env: THROUGHLINE_CLICKHOUSE_*).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	flagenv.String(fs, &c.Mode, "clickhouse-mode", "embedded", "embedded (chDB in process) or server (clickhouse-go)")
	flagenv.String(fs, &c.DataDir, "clickhouse-data-dir", "data/clickhouse", "embedded engine data directory")
	flagenv.String(fs, &c.Addr, "clickhouse-addr", "", "ClickHouse server address: host:9000 (native) or host:8123 (http) (server mode)")
	flagenv.String(fs, &c.Protocol, "clickhouse-protocol", "native", "native or http: how the server store talks to ClickHouse (server mode)")
	flagenv.String(fs, &c.User, "clickhouse-user", "default", "ClickHouse user (server mode)")
	flagenv.Secret(fs, &c.Password, "clickhouse-password", "ClickHouse password (server mode)")
	flagenv.String(fs, &c.Database, "clickhouse-database", "throughline", "database of Throughline's tables")
}
