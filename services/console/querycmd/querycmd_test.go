package querycmd

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/throughline/throughline/services/console"
)

const adminToken = "querycmd-admin-token-0123"

// cli serves a console over the engine for the test and returns a run of
// the command against it. The admin token reaches the command through a
// file, never argv.
func cli(t *testing.T) func(args ...string) (int, string, string) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{MaxRows: 3, SQLToken: adminToken}, console.Deps{Store: engine})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Run(append([]string{"--console", srv.URL, "--sql-token-file", tokenFile}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
}

func TestPrintsTable(t *testing.T) {
	run := cli(t)
	code, out, errOut := run("SELECT number AS n, concat('Москва-', toString(number)) AS city, [1, 2] AS arr, NULL AS nothing FROM numbers(2)")
	want := "" +
		"n  city      arr    nothing\n" +
		"-  --------  -----  -------\n" +
		"0  Москва-0  [1,2]  NULL\n" +
		"1  Москва-1  [1,2]  NULL\n" +
		"(2 rows, "
	if code != 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s\nwant prefix:\n%s", code, errOut, out, want)
	}
}

func TestTableRightAlignsNumbersAndSaysTruncated(t *testing.T) {
	run := cli(t)
	code, out, _ := run("SELECT", "number * 1000 AS big, 'x' AS s", "FROM numbers(10)")
	lines := strings.Split(out, "\n")
	if code != 0 || lines[2] != "   0  x" || lines[4] != "2000  x" || !strings.Contains(out, "(3 rows, cut at the console's limit") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestFormats(t *testing.T) {
	run := cli(t)
	code, out, errOut := run("--format", "csv", "SELECT number, 'a,b' FROM numbers(5)")
	if code != 0 || out != "number,\"'a,b'\"\n0,\"a,b\"\n1,\"a,b\"\n2,\"a,b\"\n" || !strings.Contains(errOut, "cut") {
		t.Errorf("csv: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ := run("--format", "tsv", "SELECT 1 AS a"); code != 0 || out != "a\n1\n" {
		t.Errorf("tsv: exit %d %q", code, out)
	}
	if code, out, _ := run("--format", "json", "SELECT 1 AS a"); code != 0 || !strings.HasPrefix(out, `{"columns":[{"name":"a","type":"UInt8"}],"rows":[[1]]`) {
		t.Errorf("json: exit %d %q", code, out)
	}
}

func TestStdin(t *testing.T) {
	run := cli(t)
	Stdin = strings.NewReader("SELECT 7 AS seven\n")
	defer func() { Stdin = os.Stdin }()
	if code, out, _ := run(); code != 0 || !strings.HasPrefix(out, "seven\n-----\n    7\n") {
		t.Errorf("stdin: exit %d %q", code, out)
	}
}

func TestErrors(t *testing.T) {
	run := cli(t)
	code, _, errOut := run("DROP TABLE system.one")
	if code != 1 || !strings.Contains(errOut, "only reading statements") {
		t.Errorf("refused: exit %d %q", code, errOut)
	}
	code, _, errOut = run("SELEC 1")
	if code != 1 || !strings.Contains(errOut, "SYNTAX_ERROR") {
		t.Errorf("syntax: exit %d %q", code, errOut)
	}
	if code, _, _ := run("--format", "xml", "SELECT 1"); code != 2 {
		t.Errorf("bad format: exit %d", code)
	}
	var out, errBuf bytes.Buffer
	if code := Run([]string{"--console", "http://127.0.0.1:1", "SELECT 1"}, &out, &errBuf); code != 1 || !strings.Contains(errBuf.String(), "calling console") {
		t.Errorf("no console: exit %d %q", code, errBuf.String())
	}
}
