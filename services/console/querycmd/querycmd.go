// Package querycmd is the "throughline query" command: it sends one SQL
// statement to the console and prints the answer, by default as an aligned
// table for people, or as CSV, TSV or JSON for scripts.
package querycmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/services/console/client"
)

// maxCell is the widest a table cell is printed; longer values are cut with "…".
const maxCell = 80

// Stdin is where the statement is read from when none is given as arguments.
var Stdin io.Reader = os.Stdin

// RunQueryCommand is Run, under the name the all-in-one CLI documents.
func RunQueryCommand(args []string, stdout, stderr io.Writer) int { return Run(args, stdout, stderr) }

// Run parses flags and the statement from args, queries the console and
// prints the answer. It returns the process exit code: 0 answered,
// 1 the console or the engine refused the statement, 2 bad usage.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("throughline query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var consoleURL, token, format string
	var timeout time.Duration
	flagenv.String(fs, &consoleURL, "console", "http://127.0.0.1:8081", "console base URL")
	flagenv.Secret(fs, &token, "sql-token", "the console's admin token (its --sql-token)")
	flagenv.String(fs, &format, "format", "table", "output: table, csv, tsv or json")
	flagenv.Duration(fs, &timeout, "query-timeout", 2*time.Minute, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: throughline query [flags] "SELECT …"   (no statement or "-": read it from stdin)`)
		fs.PrintDefaults()
	}
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	wire := format
	switch format {
	case "table":
		wire = "json"
	case "csv", "tsv", "json":
	default:
		fmt.Fprintf(stderr, "throughline query: --format %q is not table, csv, tsv or json\n", format)
		return 2
	}
	sql := strings.Join(fs.Args(), " ")
	if sql == "" || sql == "-" {
		b, err := io.ReadAll(io.LimitReader(Stdin, 1<<20))
		if err != nil {
			fmt.Fprintln(stderr, "throughline query: reading statement from stdin:", err)
			return 2
		}
		sql = string(b)
	}
	if strings.TrimSpace(sql) == "" {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body, truncated, err := client.QueryWithTruncation(ctx, consoleURL, token, sql, wire)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, ce.Message)
		} else {
			fmt.Fprintln(stderr, "throughline query:", err)
		}
		return 1
	}
	if format != "table" {
		stdout.Write(body)
		if truncated {
			fmt.Fprintln(stderr, "throughline query: rows were cut at the console's limit")
		}
		return 0
	}
	if err := printTable(stdout, body); err != nil {
		fmt.Fprintln(stderr, "throughline query:", err)
		return 1
	}
	return 0
}

type answer struct {
	Columns []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"columns"`
	Rows      [][]any `json:"rows"`
	RowsCount int     `json:"rows_count"`
	Truncated bool    `json:"truncated"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

// printTable prints a JSON answer as aligned columns, numbers right-aligned.
func printTable(w io.Writer, body []byte) error {
	var a answer
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	widths := make([]int, len(a.Columns))
	right := make([]bool, len(a.Columns))
	cells := make([][]string, len(a.Rows))
	for i, c := range a.Columns {
		widths[i] = utf8.RuneCountInString(c.Name)
		right[i] = numeric(c.Type)
	}
	for r, row := range a.Rows {
		cells[r] = make([]string, len(a.Columns))
		for i := range a.Columns {
			if i < len(row) {
				cells[r][i] = cell(row[i])
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cells[r][i]))
		}
	}
	var b strings.Builder
	line := func(vals []string) {
		for i, v := range vals {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v))
			if right[i] {
				b.WriteString(pad + v)
			} else if i < len(vals)-1 {
				b.WriteString(v + pad)
			} else {
				b.WriteString(v)
			}
		}
		b.WriteString("\n")
	}
	names := make([]string, len(a.Columns))
	rules := make([]string, len(a.Columns))
	for i, c := range a.Columns {
		names[i] = c.Name
		rules[i] = strings.Repeat("-", widths[i])
	}
	if len(a.Columns) > 0 {
		line(names)
		line(rules)
	}
	for _, r := range cells {
		line(r)
	}
	noun := "rows"
	if a.RowsCount == 1 {
		noun = "row"
	}
	cut := ""
	if a.Truncated {
		cut = ", cut at the console's limit"
	}
	fmt.Fprintf(&b, "(%d %s%s, %.1f ms)\n", a.RowsCount, noun, cut, a.ElapsedMS)
	_, err := io.WriteString(w, b.String())
	return err
}

func cell(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = "NULL"
	case string:
		s = x
	case json.Number:
		s = x.String()
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	s = strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s)
	if utf8.RuneCountInString(s) > maxCell {
		s = string([]rune(s)[:maxCell-1]) + "…"
	}
	return s
}

func numeric(typ string) bool {
	for _, wrap := range []string{"Nullable(", "LowCardinality("} {
		if strings.HasPrefix(typ, wrap) {
			typ = strings.TrimSuffix(strings.TrimPrefix(typ, wrap), ")")
		}
	}
	for _, p := range []string{"Int", "UInt", "Float", "Decimal"} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}
