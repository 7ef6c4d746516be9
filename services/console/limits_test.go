package console

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 9, item 5: the statements that used to get past the console's
// limits are refused with a clear error, and the engine (the process, in
// the embedded mode) is alive after each.
func TestSQLLimits(t *testing.T) {
	_, srv := newConsole(t, Config{MaxMemory: 64 << 20})
	cases := []struct {
		name, sql, want string
	}{
		// The engine prints formats that are keywords quoted; they slipped
		// past the FORMAT check.
		{"FORMAT Null", "SELECT * FROM numbers(10) FORMAT Null", "FORMAT clauses are not allowed"},
		{"FORMAT Values", "SELECT 1 format Values", "FORMAT clauses are not allowed"},
		{"FORMAT quoted", `SELECT 1 FORMAT "Null"`, "FORMAT clauses are not allowed"},
		// Gathering 800 MB of numbers into one array needs more memory than
		// the statement may take: it stops at 64 MiB.
		{"memory", "SELECT length(groupArray(number)) FROM numbers(100000000)", "MEMORY_LIMIT_EXCEEDED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := post(t, srv, tc.sql, nil, nil)
			if msg := errorOf(t, status, body); !strings.Contains(msg, tc.want) {
				t.Fatalf("%s: %s, want %q", tc.sql, msg, tc.want)
			}
			a := decodeAnswer(t, mustPost(t, srv, "SELECT 1 AS alive"))
			if a.RowsCount != 1 {
				t.Fatalf("after %s the engine answers %+v", tc.name, a)
			}
		})
	}
}

// One user (one token, or one address without) runs at most
// MaxConcurrentPerUser statements at once: the next is answered 429 with a
// reason, while another user still gets the free slot.
func TestSQLConcurrencyPerUser(t *testing.T) {
	c, srv := newConsole(t, Config{MaxConcurrent: 2, MaxConcurrentPerUser: 1})
	alice := http.Header{"Authorization": {"Bearer alice-token"}}
	// Alice's statement is running (its slot is held as handleSQL holds it).
	aliceUser := sqlUser(&http.Request{Header: alice})
	if !c.users.acquire(aliceUser, 1) {
		t.Fatal("first slot refused")
	}
	defer c.users.release(aliceUser)
	status, hdr, body := post(t, srv, "SELECT 1", nil, alice)
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "the most one user may") {
		t.Fatalf("alice's second statement: %d %s", status, body)
	}
	if status, _, body := post(t, srv, "SELECT 1", nil, http.Header{"Authorization": {"Bearer bob-token"}}); status != http.StatusOK {
		t.Fatalf("bob's statement: %d %s", status, body)
	}
	if status, _, body := post(t, srv, "SELECT 1", nil, nil); status != http.StatusOK {
		t.Fatalf("a statement without a token (by address): %d %s", status, body)
	}
}
