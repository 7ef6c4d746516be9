package console

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/sqlguard"
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

var (
	settingsRe = regexp.MustCompile(`(^|[^\w.$])SETTINGS\b`)
	// The engine prints a format that is also a keyword quoted (FORMAT
	// `Null`, FORMAT `Values`), and the quotes stay after masking.
	formatRe = regexp.MustCompile("(^|[^\\w.$])FORMAT\\s+[A-Za-z_`\"]")
)

// checkReading refuses a normalised statement that is not a plain read.
// The checks both SQL front doors share (kind, files, external calls) are
// pkg/sqlguard's; SETTINGS and FORMAT are refused here only: the HTTP
// interface lets its users set them, the console sets them itself.
func checkReading(normalised string) error {
	m := sqlguard.Mask(normalised)
	kind := sqlguard.FirstWord(m)
	if !sqlguard.Reading(kind) {
		if kind == "" {
			return &Rejected{"only reading statements are allowed (" + sqlguard.ReadingKinds + ")"}
		}
		return &Rejected{fmt.Sprintf("only reading statements are allowed (%s), not %s", sqlguard.ReadingKinds, kind)}
	}
	if sqlguard.LocalFiles(m) { // FROM INFILE only follows an INSERT, refused above
		return &Rejected{"INTO OUTFILE is not allowed: the console does not write files"}
	}
	if settingsRe.MatchString(m) {
		return &Rejected{"SETTINGS clauses are not allowed: the console sets the query's limits"}
	}
	if formatRe.MatchString(m) {
		return &Rejected{"FORMAT clauses are not allowed: choose the output with ?format=json|csv|tsv"}
	}
	if start, end, ok := sqlguard.ExternalCall(m); ok {
		return &Rejected{fmt.Sprintf("%s() is not allowed: the SQL console does not read files, the network or other servers", normalised[start:end])}
	}
	return nil
}

// normalise has the engine parse q and print it back on one line. A syntax
// error, or more than one statement, comes back as the engine's error.
func normalise(ctx context.Context, store chstore.Store, q string) (string, error) {
	res, err := store.Query(ctx, sqlguard.NormaliseQuery, chstore.Params{"q": q})
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

// stripScope removes the engine's mention of the wrapping formatQuery call
// (sqlguard.StripScope), so a syntax error reads as if the statement had
// been run as written.
func stripScope(msg string) string {
	text, _ := sqlguard.StripScope(msg)
	return text
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
