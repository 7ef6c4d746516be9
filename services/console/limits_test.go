package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
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
	// Only the admin token runs SQL (access.go): alice is its holder.
	alice := http.Header{"Authorization": {"Bearer " + testAdminToken}}
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
	// Another token, or none, is refused before it could take a slot.
	if status, _, body := post(t, srv, "SELECT 1", nil, http.Header{"Authorization": {"Bearer bob-token"}}); status != http.StatusUnauthorized {
		t.Fatalf("bob's statement: %d %s", status, body)
	}
	if status, _, body := post(t, srv, "SELECT 1", nil, http.Header{"Authorization": nil}); status != http.StatusUnauthorized {
		t.Fatalf("a statement without a token: %d %s", status, body)
	}
}

// The engine stops most statements at max_execution_time, but some stages
// do not look at the clock and ran a minute past it. The watchdog kills a
// statement that outlives its limit and grace, or whose caller hung up; the
// statements here tell the engine they may run two minutes, so only the
// watchdog stops them.
func TestWatchdogKillsOverrunningStatement(t *testing.T) {
	c, _ := newConsole(t, Config{QueryTimeout: 100 * time.Millisecond})
	if c.sqlStore == c.store {
		t.Fatal("/v1/sql runs on the pipeline's connection, want a session of its own")
	}
	cases := []struct {
		name   string
		hangUp bool
	}{
		{"past the limit", false},
		{"caller hung up", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			marker := newMarker()
			stop := c.watchdog(ctx, marker)
			if tc.hangUp {
				cancel()
			}
			_, err := c.sqlStore.Query(context.Background(), "SELECT count() FROM numbers(1000000000000) WHERE number % 7 = 3 "+
				"SETTINGS log_comment = '"+marker+"', max_execution_time = 120", nil)
			if !stop() {
				t.Fatal("the watchdog did not kill")
			}
			if err == nil || !strings.Contains(err.Error(), "QUERY_WAS_CANCELLED") {
				t.Fatalf("killed statement: %v", err)
			}
		})
	}
	// The pipeline's connection answers while a user's statement runs on
	// the SQL connection.
	ctx, cancel := context.WithCancel(context.Background())
	marker := newMarker()
	long := make(chan error, 1)
	go func() {
		_, err := c.sqlStore.Query(ctx, "SELECT count() FROM numbers(1000000000000) WHERE number % 7 = 3 "+
			"SETTINGS log_comment = '"+marker+"', max_execution_time = 120", nil)
		long <- err
	}()
	for running := false; !running; {
		res, err := c.store.Query(context.Background(), "SELECT count() FROM system.processes WHERE Settings['log_comment'] = {m:String}",
			chstore.Params{"m": marker})
		if err != nil {
			t.Fatal(err)
		}
		running = fmt.Sprint(res.Rows[0][0]) == "1"
	}
	stop := c.watchdog(ctx, marker)
	cancel() // the caller hangs up: the watchdog kills
	if err := <-long; err == nil {
		t.Fatal("the long statement was not stopped")
	}
	stop()
}
