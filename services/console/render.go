package console

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// Output formats of /v1/sql.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatTSV  = "tsv"
)

// Answer is the JSON form of a SQL answer.
type Answer struct {
	Columns   []chstore.Column  `json:"columns"`
	Rows      []json.RawMessage `json:"rows"`
	RowsCount int               `json:"rows_count"`
	// Truncated says rows were cut at the console's row or byte limit.
	Truncated bool    `json:"truncated"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

// render encodes a result in the format, cut to maxRows rows and about
// maxBytes bytes of rows. It reports whether rows were cut.
func render(res *chstore.Result, format string, maxRows, maxBytes int, elapsed time.Duration) (body []byte, truncated bool, err error) {
	switch format {
	case FormatCSV:
		return renderCSV(res, maxRows, maxBytes)
	case FormatTSV:
		return renderTSV(res, maxRows, maxBytes)
	}
	var rows []json.RawMessage
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	size := 0
	for i, row := range res.Rows {
		if i == maxRows {
			truncated = true
			break
		}
		buf.Reset()
		if err := enc.Encode(row); err != nil {
			return nil, false, fmt.Errorf("encoding row %d: %w", i, err)
		}
		if size += buf.Len(); size > maxBytes {
			truncated = true
			break
		}
		rows = append(rows, json.RawMessage(bytes.Clone(bytes.TrimRight(buf.Bytes(), "\n"))))
	}
	cols := res.Columns
	if cols == nil {
		cols = []chstore.Column{}
	}
	if rows == nil {
		rows = []json.RawMessage{}
	}
	a := Answer{Columns: cols, Rows: rows, RowsCount: len(rows), Truncated: truncated, ElapsedMS: ms(elapsed)}
	buf.Reset()
	if err := enc.Encode(a); err != nil {
		return nil, false, fmt.Errorf("encoding answer: %w", err)
	}
	return bytes.Clone(buf.Bytes()), truncated, nil
}

func renderCSV(res *chstore.Result, maxRows, maxBytes int) ([]byte, bool, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	rec := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		rec[i] = c.Name
	}
	w.Write(rec)
	w.Flush()
	header := buf.Len()
	for i, row := range res.Rows {
		if i == maxRows {
			return buf.Bytes(), true, nil
		}
		before := buf.Len()
		rec = rec[:0]
		for _, v := range row {
			rec = append(rec, text(v))
		}
		w.Write(rec)
		w.Flush()
		if buf.Len()-header > maxBytes {
			buf.Truncate(before)
			return buf.Bytes(), true, nil
		}
	}
	return buf.Bytes(), false, w.Error()
}

var tsvEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`)

func renderTSV(res *chstore.Result, maxRows, maxBytes int) ([]byte, bool, error) {
	var buf bytes.Buffer
	for i, c := range res.Columns {
		if i > 0 {
			buf.WriteByte('\t')
		}
		buf.WriteString(tsvEscaper.Replace(c.Name))
	}
	buf.WriteByte('\n')
	header := buf.Len()
	for i, row := range res.Rows {
		if i == maxRows {
			return buf.Bytes(), true, nil
		}
		before := buf.Len()
		for j, v := range row {
			if j > 0 {
				buf.WriteByte('\t')
			}
			if v == nil {
				buf.WriteString(`\N`)
				continue
			}
			buf.WriteString(tsvEscaper.Replace(text(v)))
		}
		buf.WriteByte('\n')
		if buf.Len()-header > maxBytes {
			buf.Truncate(before)
			return buf.Bytes(), true, nil
		}
	}
	return buf.Bytes(), false, nil
}

// text is a value as one CSV/TSV field: numbers as the engine wrote them,
// NULL as \N (as ClickHouse writes it), arrays, maps and tuples as JSON.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return `\N`
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
