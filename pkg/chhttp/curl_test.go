package chhttp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// curl runs curl with args against the interface and returns the status
// line's code, the headers and the body.
func curl(t *testing.T, args ...string) (string, string, string) {
	t.Helper()
	bin := tool(t, "curl", "apt-get install curl")
	hdr := filepath.Join(t.TempDir(), "headers")
	out, err := exec.Command(bin, append([]string{"-sS", "-D", hdr}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	h, _ := os.ReadFile(hdr)
	status := strings.Fields(string(h))[1]
	return status, string(h), string(out)
}

// TestCurl: what the ClickHouse docs show with curl works as shown.
func TestCurl(t *testing.T) {
	e := startEnv(t)
	base := strings.TrimSuffix(e.url, "/")
	admin := "http://" + adminUser + ":" + adminPass + "@" + strings.TrimPrefix(base, "http://")
	check := func(gotStatus, headers, body, wantStatus, wantBody string) {
		t.Helper()
		if gotStatus != wantStatus || body != wantBody {
			t.Fatalf("got %s %q, want %s %q\n%s", gotStatus, body, wantStatus, wantBody, headers)
		}
	}
	s, h, b := curl(t, base+"/ping")
	check(s, h, b, "200", "Ok.\n")
	// Selects in several formats, the query in the URL and in the body.
	s, h, b = curl(t, admin+"/?query=SELECT%201%20AS%20one")
	check(s, h, b, "200", "1\n")
	s, h, b = curl(t, "--data-binary", "SELECT 1 AS one, 'a' AS s FORMAT JSONCompactEachRow", admin+"/")
	check(s, h, b, "200", "[1, \"a\"]\n")
	s, h, b = curl(t, "--data-binary", "SELECT 1 AS one", admin+"/?default_format=PrettyCompactMonoBlock")
	check(s, h, b, "200", "   ┌─one─┐\n1. │   1 │\n   └─────┘\n")
	if !strings.Contains(h, "X-Clickhouse-Format: PrettyCompactMonoBlock") {
		t.Fatalf("headers: %s", h)
	}
	s, h, b = curl(t, "-H", "X-ClickHouse-User: "+userA, "-H", "X-ClickHouse-Key: "+passA, "--compressed", base+"/?enable_http_compression=1&query=SELECT%20count()%20FROM%20events%20FORMAT%20CSV")
	check(s, h, b, "200", "2\n")
	// A typed round trip and an insert retried with its token.
	s, h, b = curl(t, "--data-binary", "CREATE TABLE tl.curl (id UInt64, ts DateTime64(3, 'UTC'), m Map(String, String), a Array(String), n Nullable(String)) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 10", admin+"/")
	check(s, h, b, "200", "")
	row := `{"id":"18446744073709551615","ts":"2026-03-04 05:06:07.890","m":{"k":"v"},"a":["x","y\ty"],"n":null}` + "\n"
	for range 2 {
		s, h, b = curl(t, "--data-binary", row, admin+"/?query=INSERT%20INTO%20tl.curl%20FORMAT%20JSONEachRow&insert_deduplication_token=curl-1")
		check(s, h, b, "200", "")
	}
	s, h, b = curl(t, admin+"/?query=SELECT%20*%20FROM%20tl.curl%20FORMAT%20JSONEachRow&output_format_json_quote_64bit_integers=1")
	check(s, h, b, "200", row)
	// An error, and a tenant's user denied another's rows.
	s, h, b = curl(t, admin+"/?query=SELEC%201")
	if s != "400" || !strings.Contains(h, "X-Clickhouse-Exception-Code: 62") || !strings.HasPrefix(b, "Code: 62. DB::Exception: Syntax error") {
		t.Fatalf("syntax error: %s %s %s", s, h, b)
	}
	s, h, b = curl(t, "-u", userA+":"+passA, base+"/?query=SELECT%20count()%20FROM%20events%20WHERE%20tenant%20=%20'globex'")
	check(s, h, b, "200", "0\n")
	s, h, b = curl(t, "-u", userA+":"+passA, base+"/?query=SELECT%20*%20FROM%20system.query_log")
	if s != "403" || !strings.Contains(h, "X-Clickhouse-Exception-Code: 497") {
		t.Fatalf("tenant query_log: %s %s %s", s, h, b)
	}
}
