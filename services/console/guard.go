package console

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// The SQL endpoint runs one reading statement with the engine's own guard,
// readonly=1, plus checks where readonly=1 is not enough. What chDB 26.5
// enforces under readonly=1 was tested statement by statement:
//
//   - refused: every write and DDL, SET of readonly, and the table functions
//     file, url, s3, gcs, remote, mysql, postgresql, hdfs, executable, sqlite,
//     mongodb, redis, jdbc, odbc, azureBlobStorage, format, loop, zeros;
//   - NOT refused: SELECT … INTO OUTFILE (writes the file), the scalar
//     function file('/etc/passwd') (reads it), DESCRIBE url(…) and
//     DESCRIBE file(…) (schema inference opens the file or connection), and a
//     SETTINGS clause in a subquery, which can set readonly=0 or
//     max_execution_time=0 for that subquery and so lift both the guard and
//     the limits.
//
// So the statement is first normalised by the engine's parser
// (formatQuerySingleLine fails on a syntax error and on more than one
// statement), its kind is read from the normalised text, and the text is
// refused if it holds SETTINGS, INTO OUTFILE, FORMAT, or a call of a
// function that reaches files or the network. The normalised text is what
// runs, so what was checked is what executes.

// Rejected is a statement the console refuses to run.
type Rejected struct{ Reason string }

func (r *Rejected) Error() string { return r.Reason }

// readingKinds are the statements the console runs.
var readingKinds = map[string]bool{
	"SELECT": true, "WITH": true, "SHOW": true, "DESCRIBE": true, "EXPLAIN": true, "EXISTS": true,
}

var (
	settingsRe = regexp.MustCompile(`(^|[^\w.$])SETTINGS\b`)
	outfileRe  = regexp.MustCompile(`\bINTO\s+OUTFILE\b`)
	// The engine prints a format that is also a keyword quoted (FORMAT
	// `Null`, FORMAT `Values`), and the quotes stay after masking.
	formatRe = regexp.MustCompile("(^|[^\\w.$])FORMAT\\s+[A-Za-z_`\"]")
	// Functions and table functions that read or write files, reach the
	// network or run programs. Matching is case-insensitive: some are
	// registered so.
	externalRe = regexp.MustCompile(`(?i)(?:^|[^\w.$])(file|filecluster|url|urlcluster|s3\w*|gcs\w*|oss|cosn|hdfs\w*|remote|remotesecure|cluster|clusterallreplicas|mysql|postgresql|mongodb|redis|sqlite|jdbc|odbc|executable|azure\w*|iceberg\w*|deltalake\w*|hudi\w*|paimon\w*|arrowflight\w*|ytsaurus|input|catboostevaluate)\s*\(`)
)

// checkReading refuses a normalised statement that is not a plain read.
func checkReading(normalised string) error {
	m := maskLiterals(normalised)
	kind := firstWord(m)
	if !readingKinds[kind] {
		if kind == "" {
			return &Rejected{"only reading statements are allowed (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)"}
		}
		return &Rejected{fmt.Sprintf("only reading statements are allowed (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS), not %s", kind)}
	}
	if outfileRe.MatchString(m) {
		return &Rejected{"INTO OUTFILE is not allowed: the console does not write files"}
	}
	if settingsRe.MatchString(m) {
		return &Rejected{"SETTINGS clauses are not allowed: the console sets the query's limits"}
	}
	if formatRe.MatchString(m) {
		return &Rejected{"FORMAT clauses are not allowed: choose the output with ?format=json|csv|tsv"}
	}
	if loc := externalRe.FindStringSubmatchIndex(m); loc != nil {
		name := normalised[loc[2]:loc[3]]
		return &Rejected{fmt.Sprintf("%s() is not allowed: the SQL console does not read files, the network or other servers", name)}
	}
	return nil
}

// maskLiterals blanks the insides of string literals and quoted identifiers,
// keeping the quotes and every byte offset, so keyword searches see only the
// statement's structure. The input is the engine's normalised text, whose
// literals escape with a backslash.
func maskLiterals(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		q := b[i]
		if q != '\'' && q != '`' && q != '"' {
			continue
		}
		j := i + 1
		for ; j < len(b) && b[j] != q; j++ {
			if b[j] == '\\' && j+1 < len(b) {
				b[j] = ' '
				j++
			}
			b[j] = ' '
		}
		i = j
	}
	return string(b)
}

// firstWord is the statement's leading keyword, upper-cased, past any
// opening parentheses.
func firstWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n(")
	end := 0
	for end < len(s) && (s[end] >= 'A' && s[end] <= 'Z' || s[end] >= 'a' && s[end] <= 'z') {
		end++
	}
	return strings.ToUpper(s[:end])
}

// normalise has the engine parse q and print it back on one line. A syntax
// error, or more than one statement, comes back as the engine's error.
func normalise(ctx context.Context, store chstore.Store, q string) (string, error) {
	res, err := store.Query(ctx, "SELECT formatQuerySingleLine({q:String})", chstore.Params{"q": q})
	if err != nil {
		return "", &engineError{msg: stripScope(err.Error())}
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return "", fmt.Errorf("normalising statement: unexpected answer shape")
	}
	s, ok := res.Rows[0][0].(string)
	if !ok {
		return "", fmt.Errorf("normalising statement: answer is %T, not a string", res.Rows[0][0])
	}
	return s, nil
}

// stripScope removes the engine's mention of the wrapping formatQuery call,
// so a syntax error reads as if the statement had been run as written.
func stripScope(msg string) string {
	const marker = ": In scope SELECT formatQuerySingleLine("
	i := strings.Index(msg, marker)
	if i < 0 {
		return msg
	}
	j := strings.LastIndex(msg, ". (")
	if j < i {
		return msg[:i]
	}
	return msg[:i] + msg[j:]
}

// limitSettings is the SETTINGS clause appended to every statement: the
// limits first, readonly last (once it is set no setting can change).
// limit and max_result_rows ask for one row more than is returned, so a cut
// answer is told apart from one that fits exactly; max_result_rows and
// max_result_bytes stop at a block boundary (break), the answer is then cut
// exactly to the limits when it is rendered.
func limitSettings(cfg Config, marker string) string {
	rows := strconv.Itoa(cfg.MaxRows + 1)
	return " SETTINGS log_comment = '" + marker + "'" + // the watchdog's handle (a hex marker: no quoting needed)
		", max_execution_time = " + seconds(cfg.QueryTimeout) +
		", max_memory_usage = " + strconv.FormatInt(cfg.MaxMemory, 10) +
		", max_threads = " + strconv.Itoa(cfg.MaxThreads) +
		", timeout_overflow_mode = 'throw'" +
		", limit = " + rows +
		", max_result_rows = " + rows +
		", max_result_bytes = " + strconv.Itoa(4*cfg.MaxBytes) +
		", result_overflow_mode = 'break'" +
		", readonly = 1"
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// engineError is an error the engine reported, passed on as it is.
type engineError struct{ msg string }

func (e *engineError) Error() string { return e.msg }
