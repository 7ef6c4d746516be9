package chstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Server is the store over a ClickHouse server (native protocol).
type Server struct {
	conn driver.Conn
}

// OpenServer connects to a ClickHouse server. The database is created by
// migrations, so the connection starts in "default".
func OpenServer(ctx context.Context, c Config) (*Server, error) {
	opts := &clickhouse.Options{
		Addr:        []string{c.Addr},
		Auth:        clickhouse.Auth{Database: "default", Username: c.User, Password: c.Password},
		DialTimeout: 5 * time.Second,
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	}
	if c.Protocol == "http" {
		opts.Protocol = clickhouse.HTTP
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("opening clickhouse server %s: %w", c.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("pinging clickhouse server %s: %w", c.Addr, err)
	}
	return &Server{conn: conn}, nil
}

func withParams(ctx context.Context, p Params) context.Context {
	if len(p) == 0 {
		return ctx
	}
	return clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(escapeParams(p))))
}

// Exec runs a statement.
func (s *Server) Exec(ctx context.Context, query string, params Params) error {
	return s.conn.Exec(withParams(ctx, params), query)
}

// Query runs a statement and converts its rows to the JSON-like values Result holds.
func (s *Server) Query(ctx context.Context, query string, params Params) (*Result, error) {
	rows, err := s.conn.Query(withParams(ctx, params), query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	res := &Result{Rows: [][]any{}}
	for _, ct := range types {
		res.Columns = append(res.Columns, Column{Name: ct.Name(), Type: ct.DatabaseTypeName()})
	}
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("scanning row: %w", err)
		}
		row := make([]any, len(ptrs))
		for i, p := range ptrs {
			row[i] = jsonValue(reflect.ValueOf(p).Elem().Interface())
		}
		res.Rows = append(res.Rows, row)
	}
	return res, rows.Err()
}

// jsonValue normalises a scanned value to what the embedded path returns
// (JSON round trip with numbers as json.Number).
func jsonValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format("2006-01-02 15:04:05.000")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&out) != nil {
		return fmt.Sprint(v)
	}
	return out
}

// Ping checks the server answers.
func (s *Server) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Close closes the connection pool.
func (s *Server) Close() error { return s.conn.Close() }

// PrepareInsert starts a native-protocol batch.
func (s *Server) PrepareInsert(ctx context.Context, table string, cols []Column, dedupToken string) (Batch, error) {
	// On a cluster the tables are Distributed: a foreground insert reaches
	// the shards before it returns and takes the deduplication token with
	// it, where a background one would only be queued on this server — and
	// the loader would record a batch as written that is not. On a single
	// server the setting changes nothing.
	settings := clickhouse.Settings{"distributed_foreground_insert": 1}
	if dedupToken != "" {
		settings["insert_deduplicate"] = 1
		settings["insert_deduplication_token"] = dedupToken
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(settings))
	b, err := s.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s (%s)", table, columnList(cols)))
	if err != nil {
		return nil, fmt.Errorf("preparing insert into %s: %w", table, err)
	}
	return &serverBatch{b: b, table: table}, nil
}

type serverBatch struct {
	b     driver.Batch
	table string
	rows  int
}

func (b *serverBatch) Append(values ...any) error {
	if err := b.b.Append(values...); err != nil {
		return fmt.Errorf("appending to %s: %w", b.table, err)
	}
	b.rows++
	return nil
}

func (b *serverBatch) Rows() int { return b.rows }

func (b *serverBatch) Send(ctx context.Context) error {
	if err := b.b.Send(); err != nil {
		return fmt.Errorf("inserting %d rows into %s: %w", b.rows, b.table, err)
	}
	return nil
}
