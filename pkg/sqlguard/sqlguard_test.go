package sqlguard

import (
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	cases := map[string]string{
		`SELECT 'a\'b', "c d", ` + "`e\\`f`" + ` FROM t`: `SELECT '    ', "   ", ` + "`    `" + ` FROM t`,
		"SELECT 1 -- FROM file('x')\nFROM t":             "SELECT 1                  \nFROM t",
		"SELECT /* SETTINGS */ 1":                        "SELECT                1",
		"SELECT 'it''s'":                                 "SELECT '  '' '",
		"/* unterminated":                                "               ",
		`'\`:                                             `' `,
		"SELECT '-- not a comment' FROM t":               "SELECT '                ' FROM t",
	}
	for in, want := range cases {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWords(t *testing.T) {
	cases := []struct{ in, first, second string }{
		{"SELECT 1", "SELECT", ""},
		{"((select 1))", "SELECT", ""},
		{"  create TEMPORARY TABLE t", "CREATE", "TEMPORARY"},
		{"\n\tWITH x AS (SELECT 1) SELECT x", "WITH", "X"},
		{"1 + 1", "", ""},
		{"", "", ""},
		{"SELECT", "SELECT", ""},
	}
	for _, c := range cases {
		if got := FirstWord(c.in); got != c.first {
			t.Errorf("FirstWord(%q) = %q, want %q", c.in, got, c.first)
		}
		if got := SecondWord(c.in); got != c.second {
			t.Errorf("SecondWord(%q) = %q, want %q", c.in, got, c.second)
		}
	}
}

func TestReading(t *testing.T) {
	for _, k := range strings.Split(ReadingKinds, ", ") {
		if !Reading(k) {
			t.Errorf("%s named in ReadingKinds but not reading", k)
		}
	}
	if !Reading("DESC") {
		t.Error("DESC (DESCRIBE's short form) not reading")
	}
	for _, k := range []string{"INSERT", "CREATE", "ALTER", "DROP", "SET", "USE", "SYSTEM", "KILL", "OPTIMIZE", "", "select"} {
		if Reading(k) {
			t.Errorf("%q counted as reading", k)
		}
	}
}

func TestExternalCall(t *testing.T) {
	found := map[string]string{
		"SELECT * FROM file('/etc/passwd', 'LineAsString')":          "file",
		"SELECT file('/etc/passwd')":                                 "file",
		"SELECT * FROM url ('http://x', 'CSV')":                      "url",
		"SELECT * FROM s3Cluster('c', 'http://x')":                   "s3Cluster",
		"DESCRIBE TABLE icebergS3('http://x')":                       "icebergS3",
		"SELECT * FROM t WHERE a IN (SELECT x FROM remote('h', t2))": "remote",
		"SELECT catboostEvaluate('/m.bin', 1)":                       "catboostEvaluate",
		"SELECT * FROM dictionary('d')":                              "dictionary",
		"SELECT * FROM FILE('x')":                                    "FILE",
		"SELECT 1 FROM t,executable('x')":                            "executable",
	}
	for q, want := range found {
		start, end, ok := ExternalCall(Mask(q))
		if !ok || q[start:end] != want {
			t.Errorf("ExternalCall(%q) = %v %q, want %q", q, ok, q[start:end], want)
		}
	}
	for _, q := range []string{
		"SELECT urlDecode('a'), fileSize FROM t",
		"SELECT profile_file FROM t",
		"SELECT `file`(1) FROM t",
		"SELECT 'file(1)' AS s",
		"SELECT t.file(1)",
		"SELECT * FROM numbers(10)",
		"SELECT 1 -- file('x')",
	} {
		if start, end, ok := ExternalCall(Mask(q)); ok {
			t.Errorf("ExternalCall(%q) found %q", q, q[start:end])
		}
	}
}

func TestLocalFiles(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT * FROM t INTO OUTFILE 'x'":         true,
		"(SELECT 1) into  outfile 'x'":             true,
		"INSERT INTO t FROM INFILE 'x' FORMAT CSV": true,
		"SELECT 'INTO OUTFILE' AS s":               false,
		"SELECT outfile FROM t":                    false,
	} {
		if got := LocalFiles(Mask(q)); got != want {
			t.Errorf("LocalFiles(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestStripScope(t *testing.T) {
	in := "Code: 62. DB::Exception: Syntax error: failed at position 7 (1): 1. Expected one of: FROM, end of query: In scope SELECT formatQuerySingleLine('SELEC 1'). (SYNTAX_ERROR)"
	want := "Code: 62. DB::Exception: Syntax error: failed at position 7 (1): 1. Expected one of: FROM, end of query. (SYNTAX_ERROR)"
	if got, named := StripScope(in); got != want || !named {
		t.Errorf("StripScope = %q, %v", got, named)
	}
	bare := "Syntax error: end of query: In scope SELECT formatQuerySingleLine('x')"
	if got, named := StripScope(bare); got != "Syntax error: end of query" || named {
		t.Errorf("StripScope(bare) = %q, %v", got, named)
	}
	other := "Code: 60. Table x does not exist. (UNKNOWN_TABLE)"
	if got, named := StripScope(other); got != other || !named {
		t.Errorf("StripScope(other) = %q, %v", got, named)
	}
}

// FuzzStatement: reading untrusted statements never panics, masking keeps
// every offset and is stable, and what the guard finds lies in the text.
func FuzzStatement(f *testing.F) {
	for _, s := range []string{"SELECT 1", `SELECT 'a\'' FROM file('x')`, "WITH 1 AS x SELECT x SETTINGS a = 1", "`",
		"/* unterminated", "'\\", "SELECT 1 -- x\n FROM url('y')", "((SELECT 1)) INTO OUTFILE 'x'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := Mask(s)
		if len(m) != len(s) {
			t.Fatalf("mask changed length: %d -> %d", len(s), len(m))
		}
		if Mask(m) != m {
			t.Fatalf("mask not stable: %q -> %q -> %q", s, m, Mask(m))
		}
		for i := range len(s) {
			if m[i] != s[i] && m[i] != ' ' {
				t.Fatalf("mask wrote %q at %d", m[i], i)
			}
		}
		if start, end, ok := ExternalCall(m); ok && (start < 0 || end > len(s) || start >= end) {
			t.Fatalf("external call at %d:%d of %d bytes", start, end, len(s))
		}
		k := FirstWord(m)
		if strings.ToUpper(k) != k || strings.Trim(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Fatalf("first word %q", k)
		}
		SecondWord(m)
		LocalFiles(m)
		StripScope(s)
	})
}
