package chstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/throughline/throughline/pkg/chdb"
)

// Embedded is the store over chDB in this process.
type Embedded struct {
	conn   *chdb.Conn
	tmpDir string
	seq    atomic.Uint64

	// session is the second connection Session hands out, made once.
	sessionMu sync.Mutex
	session   *Embedded
	parent    bool // this store owns conn's engine (not a session)
}

// OpenEmbedded opens (creating if needed) the engine's data directory.
// Its server settings are Throughline's embedded defaults (embedded_config.go).
func OpenEmbedded(dataDir string) (*Embedded, error) {
	args, err := writeEmbeddedConfig(dataDir)
	if err != nil {
		return nil, err
	}
	conn, err := chdb.OpenArgs(dataDir, args...)
	if err != nil {
		return nil, fmt.Errorf("opening embedded clickhouse: %w", err)
	}
	// Batches are staged in memory (see stageInMemory); where that is not
	// available, as files the engine reads with file(), next to the data so
	// they are on the same disk, removed after the insert.
	tmp := filepath.Join(conn.Path(), "throughline-inserts")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		conn.Close()
		return nil, fmt.Errorf("creating insert staging dir: %w", err)
	}
	return &Embedded{conn: conn, tmpDir: tmp, parent: true}, nil
}

// Session is a store on a second connection to the same engine, for
// statements that must not make this connection's wait: users' SQL runs
// there, so a long statement does not hold up the pipeline's inserts and
// reports here (statements on one connection run one at a time). It is made
// once and closed with this store.
func (e *Embedded) Session() (Store, error) {
	e.sessionMu.Lock()
	defer e.sessionMu.Unlock()
	if !e.parent {
		return e, nil
	}
	if e.session == nil {
		conn, err := e.conn.Session()
		if err != nil {
			return nil, fmt.Errorf("opening a second embedded clickhouse connection: %w", err)
		}
		e.session = &Embedded{conn: conn, tmpDir: e.tmpDir}
	}
	return e.session, nil
}

// Exec runs a statement.
func (e *Embedded) Exec(ctx context.Context, query string, params Params) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := e.conn.QueryParams(query, "TabSeparated", escapeParams(params))
	return err
}

// Query runs a statement and decodes its rows.
func (e *Embedded) Query(ctx context.Context, query string, params Params) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := e.conn.QueryParams(query, "JSONCompact", escapeParams(params))
	if err != nil {
		return nil, err
	}
	return decodeJSONCompact(out)
}

// QueryFormat runs a statement and returns its output in any ClickHouse format.
func (e *Embedded) QueryFormat(ctx context.Context, query, format string, params Params) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return e.conn.QueryParams(query, format, escapeParams(params))
}

func decodeJSONCompact(out []byte) (*Result, error) {
	res := &Result{Rows: [][]any{}}
	if len(bytes.TrimSpace(out)) == 0 {
		return res, nil
	}
	var doc struct {
		Meta []Column `json:"meta"`
		Data [][]any  `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding query result: %w", err)
	}
	res.Columns = doc.Meta
	if doc.Data != nil {
		res.Rows = doc.Data
	}
	return res, nil
}

// Ping runs a trivial query.
func (e *Embedded) Ping(ctx context.Context) error {
	return e.Exec(ctx, "SELECT 1", nil)
}

// Close closes the engine connection, and first the Session's.
func (e *Embedded) Close() error {
	e.sessionMu.Lock()
	if e.session != nil {
		e.session.conn.Close()
		e.session = nil
	}
	e.sessionMu.Unlock()
	return e.conn.Close()
}

// PrepareInsert starts a batch staged in the Native format.
func (e *Embedded) PrepareInsert(_ context.Context, table string, cols []Column, dedupToken string) (Batch, error) {
	b := &embeddedBatch{store: e, table: table, cols: cols, token: dedupToken,
		native: make([]nativeColumn, len(cols)), types: make([]Column, len(cols))}
	for i, c := range cols {
		col, typ, err := nativeColumnFor(c.Type)
		if err != nil {
			return nil, fmt.Errorf("preparing insert into %s, column %s: %w", table, c.Name, err)
		}
		b.native[i], b.types[i] = col, Column{Name: c.Name, Type: typ}
	}
	return b, nil
}

// embeddedBatch builds the rows as one Native block in memory and inserts
// them with INSERT … SELECT FROM file() of the staged block. Inline data
// after FORMAT in the query text is not used: the engine's parser of inline
// data fails on some byte sequences, while file() reads the bytes exactly as
// written.
type embeddedBatch struct {
	store  *Embedded
	table  string
	cols   []Column
	types  []Column // the columns as the block declares them
	native []nativeColumn
	token  string
	rows   int
	sent   bool
	row    RowWriter // the writer Row hands out
	spoilt error     // a typed row that did not fit (a caller's bug)
}

func (b *embeddedBatch) Append(values ...any) error {
	if len(values) != len(b.cols) {
		return fmt.Errorf("appending to %s: %d values for %d columns", b.table, len(values), len(b.cols))
	}
	for i, v := range values {
		if err := b.native[i].check(v); err != nil {
			return fmt.Errorf("appending to %s, column %s: %w", b.table, b.cols[i].Name, err)
		}
	}
	for i, v := range values {
		b.native[i].add(v)
	}
	b.rows++
	return nil
}

func (b *embeddedBatch) Rows() int { return b.rows }

// block is the batch as a Native block: column and row counts, then each
// column's name, type and data.
func (b *embeddedBatch) block() [][]byte {
	head := binary.AppendUvarint(nil, uint64(len(b.cols)))
	head = binary.AppendUvarint(head, uint64(b.rows))
	out := [][]byte{head}
	for i, c := range b.types {
		out = append(out, appendString(appendString(nil, c.Name), c.Type))
		out = append(out, b.native[i].parts()...)
	}
	return out
}

func (b *embeddedBatch) Send(ctx context.Context) error {
	if b.sent {
		return fmt.Errorf("inserting into %s: batch already sent", b.table)
	}
	b.sent = true
	if b.spoilt != nil {
		return b.spoilt
	}
	if b.rows == 0 {
		return nil
	}
	path, release, err := b.store.stage(b.block())
	if err != nil {
		return fmt.Errorf("staging batch for %s: %w", b.table, err)
	}
	defer release()
	settings := ""
	if b.token != "" {
		settings = " SETTINGS insert_deduplicate = 1, insert_deduplication_token = " + quoteString(b.token)
	}
	q := fmt.Sprintf("INSERT INTO %s (%s)%s SELECT * FROM file(%s, 'Native', %s)",
		b.table, columnList(b.cols), settings, quoteString(path), quoteString(structure(b.types)))
	if err := b.store.Exec(ctx, q, nil); err != nil {
		return fmt.Errorf("inserting %d rows into %s: %w", b.rows, b.table, err)
	}
	return nil
}

// stage writes a block where the engine can read it, in memory if it can,
// else as a file in the staging directory.
func (e *Embedded) stage(parts [][]byte) (path string, release func(), err error) {
	if path, release, ok, err := stageInMemory(parts); ok {
		return path, release, err
	}
	return e.stageOnDisk(parts)
}

func (e *Embedded) stageOnDisk(parts [][]byte) (path string, release func(), err error) {
	path = filepath.Join(e.tmpDir, fmt.Sprintf("batch-%d-%d.native", os.Getpid(), e.seq.Add(1)))
	if err := writeParts(path, parts); err != nil {
		os.Remove(path)
		return "", nil, err
	}
	return path, func() { os.Remove(path) }, nil
}

func writeParts(path string, parts [][]byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := f.Write(p); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// Engine is the chDB session under the store, for the ClickHouse HTTP
// interface (pkg/chhttp), which runs clients' statements as they are written.
func (e *Embedded) Engine() *chdb.Conn { return e.conn }

// Stage writes data where the engine can read it by path (as the batches of
// PrepareInsert are staged), for an INSERT … FROM INFILE; release removes it.
func (e *Embedded) Stage(data []byte) (path string, release func(), err error) {
	return e.stage([][]byte{data})
}
