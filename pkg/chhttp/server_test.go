package chhttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/tenants"
)

// One engine per test process: libchdb allows a single session.
var (
	envOnce sync.Once
	env     *testEnv
	envErr  error
)

type testEnv struct {
	store *chstore.Embedded
	srv   *Server
	url   string
	dir   string
}

const (
	adminUser, adminPass = "admin", "admin-password-0123456789"
	userA, passA         = "acme_ro", "acme-password-0123456789"
	userB, passB         = "globex_ro", "globex-password-0123456789"
	testDB               = "tl"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		env.store.Close()
		os.RemoveAll(env.dir)
	}
	os.Exit(code)
}

// testTenants is a tenants file with an admin and a read-only user for
// each of two tenants.
func testTenants() *tenants.Config {
	return &tenants.Config{
		ClickHouse: tenants.ClickHouse{Admin: &tenants.ClickHouseUser{User: adminUser, Password: adminPass}},
		Tenants: []tenants.Tenant{
			{ID: "acme", ClickHouseUsers: []tenants.ClickHouseUser{{User: userA, Password: passA}}},
			{ID: "globex", ClickHouseUsers: []tenants.ClickHouseUser{{User: userB, Password: passB,
				Limits: tenants.QueryLimits{MaxConcurrentQueries: 1, MaxResultRows: 5}}}},
		},
	}
}

func startEnv(t testing.TB) *testEnv {
	t.Helper()
	envOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chhttp-test-")
		if err != nil {
			envErr = err
			return
		}
		store, err := chstore.OpenEmbedded(dir)
		if err != nil {
			envErr = err
			return
		}
		env = &testEnv{store: store, dir: dir}
		ctx := context.Background()
		for _, q := range []string{
			"CREATE DATABASE IF NOT EXISTS " + testDB,
			"CREATE TABLE " + testDB + ".events (tenant LowCardinality(String), id UInt64, s String) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100",
			"CREATE TABLE " + testDB + ".internal (x UInt8) ENGINE = MergeTree ORDER BY x",
			"CREATE VIEW " + testDB + ".events_view AS SELECT tenant, id FROM " + testDB + ".events",
			"CREATE VIEW " + testDB + ".ids AS SELECT id FROM " + testDB + ".events",
			"INSERT INTO " + testDB + ".events VALUES ('acme', 1, 'a1'), ('acme', 2, 'a2'), ('globex', 3, 'g3')",
		} {
			if err := store.Exec(ctx, q, nil); err != nil {
				envErr = fmt.Errorf("%s: %w", q, err)
				return
			}
		}
		srv, err := New(Config{Addr: "127.0.0.1:0"}, Deps{Log: zerolog.Nop(), Store: store, Tenants: testTenants(), Database: testDB})
		if err != nil {
			envErr = err
			return
		}
		if err := srv.Listen(); err != nil {
			envErr = err
			return
		}
		go srv.Run(context.Background())
		env.srv, env.url = srv, "http://"+srv.Addr()+"/"
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return env
}

type reply struct {
	status int
	header http.Header
	body   string
}

// do sends one request as user (with basic auth) and returns the answer.
func do(t *testing.T, method, user, pass string, q url.Values, body string, header http.Header) reply {
	t.Helper()
	e := startEnv(t)
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+"?"+q.Encode(), rb)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, string(b)}
}

func query(t *testing.T, user, pass, sql string, extra ...string) reply {
	t.Helper()
	q := url.Values{"query": {sql}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return do(t, http.MethodGet, user, pass, q, "", nil)
}

func wantOK(t *testing.T, r reply, body string) {
	t.Helper()
	if r.status != 200 || r.body != body {
		t.Fatalf("got %d %q, want 200 %q", r.status, r.body, body)
	}
}

func wantError(t *testing.T, r reply, status, code int, text string) {
	t.Helper()
	prefix := fmt.Sprintf("Code: %d. DB::Exception: ", code)
	if r.status != status || r.header.Get("X-ClickHouse-Exception-Code") != fmt.Sprint(code) ||
		!strings.HasPrefix(r.body, prefix) || !strings.Contains(r.body, text) || !strings.HasSuffix(r.body, ")\n") {
		t.Fatalf("got %d code %q body %q; want %d, code %d, containing %q", r.status, r.header.Get("X-ClickHouse-Exception-Code"), r.body, status, code, text)
	}
}

func get(t *testing.T, path string, host string) reply {
	t.Helper()
	e := startEnv(t)
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(e.url, "/")+path, nil)
	if host != "" {
		req.Host = host
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, string(b)}
}

func TestPingAndHost(t *testing.T) {
	wantOK(t, get(t, "/ping", ""), "Ok.\n")
	if r := get(t, "/ping", "evil.example:8123"); r.status != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host answered %d %q", r.status, r.body)
	}
	if r := get(t, "/nothing", ""); r.status != http.StatusNotFound {
		t.Fatalf("unknown path answered %d", r.status)
	}
}

func TestAuthentication(t *testing.T) {
	wantError(t, query(t, "", "", "SELECT 1"), 401, 516, "default: Authentication failed")
	wantError(t, query(t, adminUser, "wrong", "SELECT 1"), 401, 516, "admin: Authentication failed")
	wantError(t, query(t, "nobody", adminPass, "SELECT 1"), 401, 516, "nobody: Authentication failed")
	wantOK(t, query(t, adminUser, adminPass, "SELECT 1"), "1\n")
	// The headers clickhouse-go sends over TLS, and ?user=&password=.
	h := http.Header{"X-Clickhouse-User": {userA}, "X-Clickhouse-Key": {passA}}
	wantOK(t, do(t, http.MethodPost, "", "", nil, "SELECT 2", h), "2\n")
	wantOK(t, do(t, http.MethodGet, "", "", url.Values{"query": {"SELECT 3"}, "user": {userB}, "password": {passB}}, "", nil), "3\n")
}

func TestFormatsAndHeaders(t *testing.T) {
	r := query(t, adminUser, adminPass, "SELECT number AS n, toString(number) AS s FROM numbers(2)", "default_format", "JSONEachRow", "query_id", "q-1")
	wantOK(t, r, "{\"n\":0,\"s\":\"0\"}\n{\"n\":1,\"s\":\"1\"}\n")
	if r.header.Get("X-ClickHouse-Format") != "JSONEachRow" || r.header.Get("X-ClickHouse-Query-Id") != "q-1" ||
		r.header.Get("X-ClickHouse-Timezone") == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") ||
		!strings.Contains(r.header.Get("X-ClickHouse-Summary"), `"result_bytes":"`) {
		t.Fatalf("headers %v", r.header)
	}
	// A FORMAT clause wins over default_format.
	r = query(t, adminUser, adminPass, "SELECT 1 AS a, 'x,y' AS b FORMAT CSVWithNames", "default_format", "JSON")
	wantOK(t, r, "\"a\",\"b\"\n1,\"x,y\"\n")
	if r.header.Get("X-ClickHouse-Format") != "CSVWithNames" {
		t.Fatalf("format header %q", r.header.Get("X-ClickHouse-Format"))
	}
	wantOK(t, query(t, adminUser, adminPass, "SELECT 'a\tb' FORMAT TabSeparatedRaw"), "a\tb\n")
	wantOK(t, query(t, adminUser, adminPass, "SELECT {x:UInt8} + 1", "param_x", "41"), "42\n")
	// Output settings from the URL; limits only below the user's own.
	wantOK(t, query(t, adminUser, adminPass, "SELECT toUInt64(7) AS n FORMAT JSONEachRow", "output_format_json_quote_64bit_integers", "1"), "{\"n\":\"7\"}\n")
	wantError(t, query(t, adminUser, adminPass, "SELECT 1", "max_threads_x", "1"), 403, 452, "Setting max_threads_x should not be changed")
	wantOK(t, query(t, userA, passA, "SELECT getSetting('max_execution_time')", "max_execution_time", "3600"), "30\n")
	wantOK(t, query(t, userA, passA, "SELECT getSetting('max_execution_time')", "max_execution_time", "0"), "30\n")
	wantOK(t, query(t, userA, passA, "SELECT getSetting('max_execution_time')", "max_execution_time", "2.5"), "2.5\n")
	wantError(t, query(t, userB, passB, "SELECT number FROM numbers(10)"), 500, 396, "TOO_MANY_ROWS_OR_BYTES")
}

func TestErrors(t *testing.T) {
	wantError(t, query(t, adminUser, adminPass, "SELEC 1"), 400, 62, "Syntax error")
	wantError(t, query(t, adminUser, adminPass, "SELECT * FROM tl.missing"), 404, 60, "UNKNOWN_TABLE")
	wantError(t, query(t, adminUser, adminPass, "SELECT 1; SELECT 2"), 400, 62, "")
	wantError(t, query(t, adminUser, adminPass, "SET max_threads = 1"), 501, 48, "no sessions")
	wantError(t, query(t, adminUser, adminPass, "CREATE TABLE tl.x (a UInt8) ENGINE = Memory"), 403, 164, "method GET implies readonly")
	wantError(t, query(t, adminUser, adminPass, "SELECT 1 INTO OUTFILE '/tmp/x'"), 501, 48, "INTO OUTFILE")
	wantError(t, query(t, adminUser, adminPass, "SELECT * FROM file('/etc/passwd', 'LineAsString')"), 403, 497, "grant FILE ON *.*")
	wantError(t, query(t, adminUser, adminPass, "SELECT * FROM url('http://127.0.0.1:1/', CSV, 'a String')"), 403, 497, "grant URL ON *.*")
	wantOK(t, query(t, adminUser, adminPass, "SELECT 'file(x)' AS url"), "file(x)\n")
}
