package console

import (
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/sqlguard"
)

// Inputs are the engine's normalised form, as checkReading receives them.
func TestCheckReading(t *testing.T) {
	ok := []string{
		"SELECT 1",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"SELECT 1 UNION ALL SELECT 2",
		"SHOW TABLES",
		"DESCRIBE TABLE throughline.events",
		"EXPLAIN SELECT 1",
		"EXISTS TABLE throughline.events",
		`SELECT 'SETTINGS readonly = 0 INTO OUTFILE \'x\' FORMAT CSV file(\'/etc/passwd\')' AS s`,
		"SELECT `SETTINGS`, `file`(1) FROM t",
		"SELECT 1 AS settings, 2 AS format FROM system.settings",
		"SELECT profile_file FROM t",
		"SELECT urlDecode('a'), fileSize FROM t",
		"SELECT x FROM t WHERE (s = 'x') AND (y = FORMAT)",
		"SELECT * FROM numbers(10)",
	}
	for _, q := range ok {
		if err := checkReading(q); err != nil {
			t.Errorf("%q refused: %v", q, err)
		}
	}
	refused := map[string]string{
		"INSERT INTO t FORMAT Values":              "not INSERT",
		"CREATE TABLE t (a Int32) ENGINE = Memory": "not CREATE",
		"":                                  "only reading",
		"SELECT * FROM t INTO OUTFILE 'x'":  "INTO OUTFILE",
		"SELECT 1 SETTINGS max_threads = 1": "SETTINGS",
		"SELECT * FROM (SELECT 1 SETTINGS readonly = 0)":             "SETTINGS",
		"SELECT 1 FORMAT JSON":                                       "FORMAT",
		"SELECT 1 FORMAT `Null`":                                     "FORMAT",
		"SELECT 1 FORMAT `Values`":                                   "FORMAT",
		"SELECT * FROM file('/etc/passwd', 'LineAsString')":          "file()",
		"SELECT file('/etc/passwd')":                                 "file()",
		"SELECT * FROM url ('http://x', 'CSV')":                      "url()",
		"SELECT * FROM s3Cluster('c', 'http://x')":                   "s3Cluster()",
		"DESCRIBE TABLE icebergS3('http://x')":                       "icebergS3()",
		"SELECT * FROM t WHERE a IN (SELECT x FROM remote('h', t2))": "remote()",
		"SELECT catboostEvaluate('/m.bin', 1)":                       "catboostEvaluate()",
		`SELECT 'it\'s' AS s FROM file('x')`:                         "file()",
		`SELECT 'a\\' AS s FROM file('x')`:                           "file()",
		"(SELECT 1) INTO OUTFILE 'x'":                                "INTO OUTFILE",
		"SELECT * FROM dictionary('d')":                              "dictionary()",
		"SELECT 1 -- x\nFROM url('y')":                               "url()",
	}
	for q, want := range refused {
		err := checkReading(q)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want refusal naming %q", q, err, want)
		}
	}
}

func TestStripScope(t *testing.T) {
	in := "Code: 62. DB::Exception: Syntax error: failed at position 7 (1): 1. Expected one of: FROM, end of query: In scope SELECT formatQuerySingleLine('SELEC 1'). (SYNTAX_ERROR)"
	want := "Code: 62. DB::Exception: Syntax error: failed at position 7 (1): 1. Expected one of: FROM, end of query. (SYNTAX_ERROR)"
	if got := stripScope(in); got != want {
		t.Errorf("stripScope = %q", got)
	}
}

func FuzzCheckReading(f *testing.F) {
	for _, s := range []string{"SELECT 1", `SELECT 'a\'' FROM file('x')`, "WITH 1 AS x SELECT x SETTINGS a = 1", "`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind := sqlguard.FirstWord(sqlguard.Mask(s))
		if err := checkReading(s); err == nil && !sqlguard.Reading(kind) {
			t.Fatalf("%q accepted with kind %q", s, kind)
		}
	})
}
