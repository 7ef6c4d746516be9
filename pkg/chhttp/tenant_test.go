package chhttp

import (
	"net/http"
	"net/url"
	"testing"
)

// TestTenantSeesOnlyItsRows: a tenant's user reads its own rows through
// tables, views, subqueries, joins and CTEs, and nothing of another
// tenant's, as under a server's row policy.
func TestTenantSeesOnlyItsRows(t *testing.T) {
	for _, c := range []struct{ sql, acme, globex string }{
		{"SELECT count() FROM events", "2\n", "1\n"},
		{"SELECT count() FROM tl.events WHERE tenant = 'globex'", "0\n", "1\n"},
		{"SELECT groupArray(id) FROM (SELECT id FROM events ORDER BY id)", "[1,2]\n", "[3]\n"},
		{"SELECT count() FROM events_view", "2\n", "1\n"},
		{"SELECT count() FROM ids", "2\n", "1\n"}, // a view without a tenant column
		{"WITH x AS (SELECT * FROM events) SELECT count() FROM x", "2\n", "1\n"},
		{"SELECT count() FROM events AS a JOIN tl.events AS b ON a.id = b.id", "2\n", "1\n"},
		{"SELECT count() FROM numbers(5) WHERE number IN (SELECT id FROM events)", "2\n", "1\n"},
		{"SELECT count() FROM system.one", "1\n", "1\n"},
	} {
		wantOK(t, query(t, userA, passA, c.sql), c.acme)
		wantOK(t, query(t, userB, passB, c.sql), c.globex)
	}
	// The admin sees every row.
	wantOK(t, query(t, adminUser, adminPass, "SELECT count() FROM tl.events"), "3\n")
}

// TestTenantRefusals: what reaches outside the tenant's rows is refused
// with the errors a server gives a read-only user without the grant.
func TestTenantRefusals(t *testing.T) {
	for _, c := range []struct {
		sql          string
		status, code int
		text         string
	}{
		{"SELECT * FROM system.query_log", 403, 497, "acme_ro: Not enough privileges"},
		{"SELECT * FROM system.processes", 403, 497, "SELECT ON system.processes"},
		{"SELECT * FROM tl.internal", 403, 497, "SELECT ON tl.internal"},
		{"SELECT * FROM default.anything", 403, 497, "SELECT ON default.anything"},
		{"SELECT * FROM file('/etc/passwd', 'LineAsString')", 403, 497, "FILE ON *.*"},
		{"SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')", 403, 497, "URL ON *.*"},
		{"SELECT * FROM merge('tl', '.*')", 403, 497, "MERGE ON *.*"},
		{"SELECT * FROM remote('127.0.0.1', 'tl.events')", 403, 497, "REMOTE ON *.*"},
		{"SELECT file('/etc/passwd')", 403, 497, "FILE ON *.*"},
		{"SELECT 1 IN tl.events", 403, 497, "IN a table by name"},
		{"SELECT count() FROM events SETTINGS additional_table_filters = {}", 403, 164, "readonly mode"},
		{"SELECT * FROM (SELECT * FROM events SETTINGS readonly = 0)", 403, 164, "readonly mode"},
		{"INSERT INTO tl.events VALUES ('acme', 9, 'x')", 403, 164, "readonly mode"},
		{"DROP TABLE tl.events", 403, 164, "readonly mode"},
		{"SHOW PROCESSLIST", 403, 164, "readonly mode"},
		{"SELECT * FROM tl.nope", 404, 60, "does not exist"},
	} {
		r := do(t, http.MethodPost, userA, passA, nil, c.sql, nil)
		wantError(t, r, c.status, c.code, c.text)
	}
	wantError(t, query(t, userA, passA, "SELECT 1", "database", "system"), 403, 497, "SHOW DATABASES ON system")
	wantError(t, query(t, userA, passA, "SELECT 1", "readonly", "0"), 403, 164, "readonly")
	// Schema stays readable: BI tools list tables and columns.
	wantOK(t, query(t, userA, passA, "SELECT name FROM system.tables WHERE database = 'tl' AND name = 'events'"), "events\n")
	wantOK(t, query(t, userA, passA, "EXISTS TABLE tl.events"), "1\n")
	if r := do(t, http.MethodGet, userA, passA, url.Values{"query": {"DESCRIBE TABLE events"}}, "", nil); r.status != 200 {
		t.Fatalf("describe: %d %s", r.status, r.body)
	}
}
