package chdb

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestQueryAndError(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := c.Query("SELECT 40 + 2", "CSV")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "42" {
		t.Fatalf("got %q", out)
	}
	_, err = c.Query("SELECT * FROM no_such_table", "CSV")
	if err == nil || !strings.Contains(err.Error(), "UNKNOWN_TABLE") {
		t.Fatalf("want UNKNOWN_TABLE error, got %v", err)
	}
}

func TestQueryParams(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Values are in ClickHouse's escaped text form: \n stands for a newline.
	evil := `x'); DROP TABLE t; --\0\n`
	out, err := c.QueryParams("SELECT length({s:String}), {n:UInt32} + 1", "CSV", map[string]string{"s": evil, "n": "41"})
	if err != nil {
		t.Fatal(err)
	}
	want := "23,42"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestGoPanicsStillRecoverable(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// chDB resets fatal-signal handlers; the binding must give Go's back, or
	// this nil dereference would kill the process instead of panicking.
	defer func() {
		if recover() == nil {
			t.Fatal("no panic recovered")
		}
	}()
	var p *int
	_ = *p
}

func TestMissingLibraryNamesInstallCommand(t *testing.T) {
	t.Setenv("THROUGHLINE_LIBCHDB", t.TempDir()+"/nope/libchdb.so")
	_, err := Open(t.TempDir())
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "scripts/install-libchdb.sh") {
		t.Fatalf("want ErrNotInstalled naming the install script, got %v", err)
	}
}

// Regression: libchdb hands output a failed statement had already written to
// the next statement; the binding drains it.
func TestFailedStatementOutputDoesNotLeak(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, format := range []string{"TabSeparated", "JSONCompact"} {
		for i := range 5 {
			q := fmt.Sprintf("SELECT throwIf(number = %d) FROM numbers(10) SETTINGS max_block_size = 1", 2+i)
			if _, err := c.Query(q, format); err == nil {
				t.Fatal("throwIf did not fail")
			}
			out, err := c.Query("SELECT 42", "TabSeparated")
			if err != nil || string(out) != "42\n" {
				t.Fatalf("after a failed %s statement: %q %v", format, out, err)
			}
		}
	}
}

// A second connection (Session) answers while the first runs a long
// statement, sees the same tables, and can stop that statement with KILL
// QUERY; closing it leaves the first open.
func TestSessionRunsAlongsideAndKills(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query("CREATE TABLE default.shared (a Int32) ENGINE = MergeTree ORDER BY a", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query("INSERT INTO default.shared VALUES (1), (2)", ""); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Query("SELECT sum(a) FROM default.shared", ""); err != nil || string(out) != "3\n" {
		t.Fatalf("the session reads %q, %v", out, err)
	}
	long := make(chan error, 1)
	go func() {
		_, err := c.Query("SELECT count() FROM numbers(1000000000000) WHERE number % 7 = 3 "+
			"SETTINGS log_comment = 'chdb-test-long', max_execution_time = 120", "")
		long <- err
	}()
	// The session answers while the long statement runs: it sees it in
	// system.processes.
	for {
		out, err := s.Query("SELECT count() FROM system.processes WHERE Settings['log_comment'] = 'chdb-test-long'", "")
		if err != nil {
			t.Fatal(err)
		}
		if string(out) == "1\n" {
			break
		}
		select {
		case err := <-long:
			t.Fatalf("the long statement ended before it was seen: %v", err)
		default:
		}
	}
	if _, err := s.Query("KILL QUERY WHERE Settings['log_comment'] = 'chdb-test-long' SYNC", ""); err != nil {
		t.Fatal(err)
	}
	if err := <-long; err == nil || !strings.Contains(err.Error(), "QUERY_WAS_CANCELLED") {
		t.Fatalf("killed statement: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Query("SELECT 42", ""); err != nil || string(out) != "42\n" {
		t.Fatalf("the first connection after the session closed: %q, %v", out, err)
	}
}
