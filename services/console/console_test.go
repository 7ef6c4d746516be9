package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// testAdminToken is the admin token (--sql-token) of newConsole's
// consoles unless the test sets its own; post sends it unless told.
const testAdminToken = "test-admin-token-0123456789"

func newConsole(t *testing.T, cfg Config) (*Console, *httptest.Server) {
	t.Helper()
	if cfg.SQLToken == "" {
		cfg.SQLToken = testAdminToken
	}
	c, err := New(cfg, Deps{Store: engine})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return c, srv
}

// post sends a statement and returns the status and body.
func post(t *testing.T, srv *httptest.Server, sql string, query url.Values, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/sql?"+query.Encode(), strings.NewReader(sql))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/sql")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func decodeAnswer(t *testing.T, body []byte) Answer {
	t.Helper()
	var a Answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return a
}

func errorOf(t *testing.T, status int, body []byte) string {
	t.Helper()
	if status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", status, body)
	}
	var e ErrorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("error body %s: %v", body, err)
	}
	return e.Error
}

func TestSelectReturnsRows(t *testing.T) {
	_, srv := newConsole(t, Config{})
	status, hdr, body := post(t, srv, "SELECT number, toString(number) AS s, [number] AS a FROM numbers(3) ORDER BY number", nil, nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if got := hdr.Get("Content-Type"); got != "application/json" {
		t.Errorf("content type %q", got)
	}
	a := decodeAnswer(t, body)
	if a.RowsCount != 3 || len(a.Rows) != 3 || a.Truncated {
		t.Fatalf("answer %s", body)
	}
	wantCols := []chstore.Column{{Name: "number", Type: "UInt64"}, {Name: "s", Type: "String"}, {Name: "a", Type: "Array(UInt64)"}}
	if fmt.Sprint(a.Columns) != fmt.Sprint(wantCols) {
		t.Errorf("columns %v, want %v", a.Columns, wantCols)
	}
	if got := string(a.Rows[2]); got != `[2,"2",[2]]` {
		t.Errorf("row 2 = %s", got)
	}
}

func TestRequestForms(t *testing.T) {
	_, srv := newConsole(t, Config{})
	// JSON body with a bound parameter: the value is never spliced into the text.
	status, _, body := post(t, srv, `{"query": "SELECT {name:String} AS n", "params": {"name": "x'); DROP TABLE t; --"}}`,
		nil, http.Header{"Content-Type": {"application/json"}})
	if a := decodeAnswer(t, body); status != 200 || string(a.Rows[0]) != `["x'); DROP TABLE t; --"]` {
		t.Fatalf("JSON body: %d %s", status, body)
	}
	// param_ in the URL, as in ClickHouse's HTTP interface.
	status, _, body = post(t, srv, "SELECT {n:UInt32} + 1", url.Values{"param_n": {"41"}}, nil)
	if a := decodeAnswer(t, body); status != 200 || string(a.Rows[0]) != "[42]" {
		t.Fatalf("param_: %d %s", status, body)
	}
	status, _, body = post(t, srv, "  ", nil, nil)
	if msg := errorOf(t, status, body); !strings.Contains(msg, "no statement") {
		t.Errorf("empty: %s", msg)
	}
}

func TestTwoStatementsRejected(t *testing.T) {
	_, srv := newConsole(t, Config{})
	for _, q := range []string{"SELECT 1; SELECT 2", "SELECT 1; DROP TABLE system.one", "SELECT 1;\nINSERT INTO t VALUES (1)"} {
		status, _, body := post(t, srv, q, nil, nil)
		if msg := errorOf(t, status, body); !strings.Contains(msg, "Multi-statements are not allowed") {
			t.Errorf("%q: %s", q, msg)
		}
	}
	// A trailing semicolon and comments are one statement.
	if status, _, body := post(t, srv, "SELECT 1; -- done", nil, nil); status != 200 {
		t.Errorf("trailing semicolon: %d %s", status, body)
	}
}

func TestWritesRejected(t *testing.T) {
	ctx := context.Background()
	if err := engine.Exec(ctx, "CREATE TABLE IF NOT EXISTS default.keep (a Int32) ENGINE = MergeTree ORDER BY a", nil); err != nil {
		t.Fatal(err)
	}
	_, srv := newConsole(t, Config{})
	for _, q := range []string{
		"INSERT INTO default.keep VALUES (1)",
		"insert into default.keep select 1",
		"WITH 1 AS x INSERT INTO default.keep SELECT x",
		"CREATE TABLE default.x (a Int32) ENGINE = Memory",
		"DROP TABLE default.keep",
		"TRUNCATE TABLE default.keep",
		"ALTER TABLE default.keep DELETE WHERE 1",
		"RENAME TABLE default.keep TO default.gone",
		"OPTIMIZE TABLE default.keep",
		"SET readonly = 0",
		"SYSTEM FLUSH LOGS",
		"KILL QUERY WHERE 1",
		"USE system",
	} {
		status, _, body := post(t, srv, q, nil, nil)
		if msg := errorOf(t, status, body); !strings.Contains(msg, "only reading statements are allowed") {
			t.Errorf("%q: %s", q, msg)
		}
	}
	res, err := engine.Query(ctx, "SELECT count() FROM default.keep", nil)
	if err != nil || fmt.Sprint(res.Rows) != "[[0]]" {
		t.Fatalf("table changed: %v %v", res, err)
	}
	// The other reading kinds run.
	for _, q := range []string{"SHOW TABLES FROM default", "DESCRIBE TABLE default.keep", "DESC default.keep",
		"EXPLAIN SELECT 1", "EXISTS TABLE default.keep", "WITH 2 AS x SELECT x", "(SELECT 1) UNION ALL (SELECT 2)",
		"SELECT name FROM system.settings WHERE name = 'readonly'"} {
		if status, _, body := post(t, srv, q, nil, nil); status != 200 {
			t.Errorf("%q: %d %s", q, status, body)
		}
	}
}

func TestFilesAndNetworkRejected(t *testing.T) {
	_, srv := newConsole(t, Config{})
	out := filepath.Join(t.TempDir(), "out.csv")
	cases := map[string]string{
		"SELECT * FROM file('/etc/passwd', 'LineAsString')":                                       "file() is not allowed",
		"SELECT file('/etc/passwd')":                                                              "file() is not allowed",
		"SELECT * FROM url('http://127.0.0.1:1/x', 'CSV')":                                        "url() is not allowed",
		"DESCRIBE TABLE url('http://127.0.0.1:1/x', 'CSV')":                                       "url() is not allowed",
		"SELECT * FROM s3('http://127.0.0.1:1/b/x.csv')":                                          "s3() is not allowed",
		"SELECT * FROM remote('127.0.0.1:1', system.one)":                                         "remote() is not allowed",
		"SELECT * FROM executable('ls', 'TSV', 'x String')":                                       "executable() is not allowed",
		"SELECT * FROM numbers(3) INTO OUTFILE '" + out + "'":                                     "INTO OUTFILE is not allowed",
		"SELECT * FROM numbers(3) INTO OUTFILE '" + out + "' FORMAT CSV":                          "INTO OUTFILE is not allowed",
		"SELECT * FROM (SELECT * FROM numbers(3) SETTINGS readonly = 0)":                          "SETTINGS clauses are not allowed",
		"SELECT 1 SETTINGS max_execution_time = 0":                                                "SETTINGS clauses are not allowed",
		"SELECT 1 FORMAT JSONEachRow":                                                             "FORMAT clauses are not allowed",
		"SELECT * FROM view(SELECT * FROM file('/etc/passwd', 'LineAsString'))":                   "file() is not allowed",
		"SELECT * FROM mysql('127.0.0.1:1', 'db', 't', 'u', 'p')":                                 "mysql() is not allowed",
		"SELECT * FROM postgresql('127.0.0.1:1', 'db', 't', 'u', 'p')":                            "postgresql() is not allowed",
		"SELECT * FROM hdfs('hdfs://127.0.0.1:1/x', 'TSV', 'x String')":                           "hdfs() is not allowed",
		"SELECT * FROM FILE('/etc/passwd', 'LineAsString')":                                       "FILE() is not allowed",
		"SELECT count() FROM numbers(10) WHERE number IN (SELECT length(file('/etc/passwd')))":    "file() is not allowed",
		"EXPLAIN SELECT * FROM file('/etc/passwd', 'LineAsString')":                               "file() is not allowed",
		"SELECT * FROM remoteSecure('127.0.0.1:1', system.one)":                                   "remoteSecure() is not allowed",
		"SELECT * FROM azureBlobStorage('http://127.0.0.1:1', 'c', 'b')":                          "azureBlobStorage() is not allowed",
		"SELECT * FROM numbers(3) INTO OUTFILE '" + out + "' AND STDOUT":                          "INTO OUTFILE is not allowed",
		"SELECT * FROM (SELECT * FROM file('/etc/passwd', 'LineAsString') SETTINGS readonly = 0)": "SETTINGS clauses are not allowed",
	}
	for q, want := range cases {
		status, _, body := post(t, srv, q, nil, nil)
		if msg := errorOf(t, status, body); !strings.Contains(msg, want) {
			t.Errorf("%q: %s, want %q", q, msg, want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("INTO OUTFILE wrote %s", out)
	}
	// Words in strings and identifiers are data, not clauses.
	for _, q := range []string{"SELECT 'SETTINGS readonly=0; INTO OUTFILE x FORMAT CSV file(1)' AS s",
		"SELECT 1 AS settings, 2 AS format, 3 AS `file`", "SELECT count() FROM system.settings"} {
		if status, _, body := post(t, srv, q, nil, nil); status != 200 {
			t.Errorf("%q: %d %s", q, status, body)
		}
	}
}

// TestEngineReadonly records what the console relies on readonly=1 for, and
// the gaps it covers itself: if chDB changes either, this fails first.
func TestEngineReadonly(t *testing.T) {
	ctx := context.Background()
	suffix := limitSettings(Config{}.withDefaults(), newMarker())
	for _, q := range []string{
		"SELECT * FROM file('/etc/passwd', 'LineAsString')",
		"SELECT * FROM url('http://127.0.0.1:1/x', 'CSV')",
		"SELECT * FROM s3('http://127.0.0.1:1/x.csv')",
		"SELECT * FROM executable('ls', 'TSV', 'x String')",
		"CREATE TABLE default.ro (a Int32) ENGINE = Memory",
		"INSERT INTO default.keep SELECT 1",
	} {
		_, err := engine.Query(ctx, q+suffix, nil)
		if err == nil || !strings.Contains(err.Error(), "READONLY") {
			t.Errorf("readonly=1 no longer refuses %q: %v", q, err)
		}
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cr3t"), 0o600)
	res, err := engine.Query(ctx, "SELECT file('"+secret+"')"+suffix, nil)
	if err != nil || fmt.Sprint(res.Rows) != "[[s3cr3t]]" {
		t.Logf("scalar file() is now refused under readonly=1 (%v %v); the console's own check may be relaxed", res, err)
	}
}

func TestSyntaxErrorIsTheEngines(t *testing.T) {
	_, srv := newConsole(t, Config{})
	status, _, body := post(t, srv, "SELEC 1", nil, nil)
	msg := errorOf(t, status, body)
	if !strings.Contains(msg, "Syntax error") || !strings.Contains(msg, "SYNTAX_ERROR") || strings.Contains(msg, "formatQuery") {
		t.Errorf("syntax error: %s", msg)
	}
	status, _, body = post(t, srv, "SELECT no_such_column FROM system.one", nil, nil)
	if msg := errorOf(t, status, body); !strings.Contains(msg, "UNKNOWN_IDENTIFIER") {
		t.Errorf("unknown identifier: %s", msg)
	}
}

func TestRowLimitTruncates(t *testing.T) {
	_, srv := newConsole(t, Config{MaxRows: 5})
	cases := []struct {
		q         string
		rows      int
		truncated bool
	}{
		{"SELECT number FROM numbers(100)", 5, true},
		{"SELECT number FROM numbers(1000000) ORDER BY number DESC", 5, true},
		{"SELECT number FROM numbers(4) UNION ALL SELECT number FROM numbers(4)", 5, true},
		{"SELECT number FROM numbers(5)", 5, false},
		{"SELECT count() FROM (SELECT number FROM numbers(100))", 1, false},
	}
	for _, c := range cases {
		status, hdr, body := post(t, srv, c.q, nil, nil)
		if status != 200 {
			t.Fatalf("%q: %d %s", c.q, status, body)
		}
		a := decodeAnswer(t, body)
		if a.RowsCount != c.rows || len(a.Rows) != c.rows || a.Truncated != c.truncated || hdr.Get(TruncatedHeader) != fmt.Sprint(c.truncated) {
			t.Errorf("%q: %d rows, truncated %v (header %q), want %d, %v", c.q, a.RowsCount, a.Truncated, hdr.Get(TruncatedHeader), c.rows, c.truncated)
		}
	}
	if a := decodeAnswer(t, mustPost(t, srv, "SELECT count() FROM (SELECT number FROM numbers(100))")); string(a.Rows[0]) != `[100]` {
		t.Errorf("the limit must not reach into subqueries: %s", a.Rows[0])
	}
}

func mustPost(t *testing.T, srv *httptest.Server, q string) []byte {
	t.Helper()
	status, _, body := post(t, srv, q, nil, nil)
	if status != 200 {
		t.Fatalf("%q: %d %s", q, status, body)
	}
	return body
}

func TestByteLimitTruncates(t *testing.T) {
	_, srv := newConsole(t, Config{MaxBytes: 1024})
	a := decodeAnswer(t, mustPost(t, srv, "SELECT repeat('x', 100) FROM numbers(100)"))
	if !a.Truncated || a.RowsCount == 0 || a.RowsCount > 10 {
		t.Errorf("byte limit: %d rows, truncated %v", a.RowsCount, a.Truncated)
	}
}

func TestSlowStatementStopped(t *testing.T) {
	_, srv := newConsole(t, Config{QueryTimeout: 200 * time.Millisecond})
	start := time.Now()
	status, _, body := post(t, srv, "SELECT count() FROM numbers(100000000000) WHERE number % 7 = 3", nil, nil)
	if msg := errorOf(t, status, body); !strings.Contains(msg, "TIMEOUT_EXCEEDED") {
		t.Errorf("timeout: %s", msg)
	}
	t.Logf("stopped after %v", time.Since(start))
}

func TestCSVAndTSV(t *testing.T) {
	_, srv := newConsole(t, Config{MaxRows: 2})
	q := "SELECT number AS n, concat('a,\"b', toString(number)) AS s, if(number = 1, NULL, 'x\ty') AS m FROM numbers(3)"
	status, hdr, body := post(t, srv, q, url.Values{"format": {"csv"}}, nil)
	want := "n,s,m\n0,\"a,\"\"b0\",x\ty\n1,\"a,\"\"b1\",\\N\n"
	if status != 200 || string(body) != want || hdr.Get(TruncatedHeader) != "true" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Errorf("csv: %d %q (truncated %q), want %q", status, body, hdr.Get(TruncatedHeader), want)
	}
	status, _, accepted := post(t, srv, q, nil, http.Header{"Accept": {"text/csv"}})
	if status != 200 || !bytes.Equal(accepted, body) {
		t.Errorf("Accept: text/csv: %d %q", status, accepted)
	}
	status, _, body = post(t, srv, q, url.Values{"format": {"tsv"}}, nil)
	if want := "n\ts\tm\n0\ta,\"b0\tx\\ty\n1\ta,\"b1\t\\N\n"; status != 200 || string(body) != want {
		t.Errorf("tsv: %d %q, want %q", status, body, want)
	}
	status, _, body = post(t, srv, q, url.Values{"format": {"xml"}}, nil)
	if msg := errorOf(t, status, body); !strings.Contains(msg, "format") {
		t.Errorf("bad format: %s", msg)
	}
}

func TestToken(t *testing.T) {
	_, srv := newConsole(t, Config{SQLToken: "t0ken-secret"})
	if status, _, _ := post(t, srv, "SELECT 1", nil, http.Header{"Authorization": nil}); status != http.StatusUnauthorized {
		t.Errorf("no token: %d", status)
	}
	if status, _, _ := post(t, srv, "SELECT 1", nil, http.Header{"Authorization": {"Bearer wrong"}}); status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", status)
	}
	if status, _, body := post(t, srv, "SELECT 1", nil, http.Header{"Authorization": {"Bearer t0ken-secret"}}); status != 200 {
		t.Errorf("token: %d %s", status, body)
	}
}

func TestBusy(t *testing.T) {
	c, srv := newConsole(t, Config{MaxConcurrent: 1})
	c.sem <- struct{}{}
	status, hdr, body := post(t, srv, "SELECT 1", nil, nil)
	<-c.sem
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("busy: %d %v %s", status, hdr, body)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if err := (Config{Addr: ":8081"}).Validate(); err == nil || !strings.Contains(err.Error(), "console-addr") {
		t.Errorf("open address without token: %v", err)
	}
	if err := (Config{Addr: ":8081", SQLToken: "x"}).Validate(); err != nil {
		t.Errorf("open address with token: %v", err)
	}
	if err := (Config{MaxRows: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "console-max-rows") {
		t.Errorf("max rows: %v", err)
	}
}

func TestServeAndShutdown(t *testing.T) {
	c, err := New(Config{}, Deps{Store: engine})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
