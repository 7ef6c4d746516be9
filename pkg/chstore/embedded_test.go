package chstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// One engine per test process: libchdb allows a single session.
var (
	sharedOnce  sync.Once
	sharedStore *Embedded
	sharedErr   error
)

// TestMain closes the shared engine before the process exits: libchdb can
// crash in its exit handlers when a session is still open.
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedStore != nil {
		sharedStore.Close()
		os.RemoveAll(sharedStore.conn.Path())
	}
	os.Exit(code)
}

func testStore(t testing.TB) *Embedded {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chstore-test-")
		if err != nil {
			sharedErr = err
			return
		}
		// An operator's override, as docs/operations.md describes it
		// (TestEmbeddedServerSettings).
		over := filepath.Join(dir, EmbeddedConfigOverrides)
		if sharedErr = os.MkdirAll(over, 0o700); sharedErr != nil {
			return
		}
		if sharedErr = os.WriteFile(filepath.Join(over, "operator.xml"), []byte(testOverride), 0o600); sharedErr != nil {
			return
		}
		sharedStore, sharedErr = OpenEmbedded(dir)
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedStore
}

var tableSeq int

func freshTable(t testing.TB, s Store, cols string) string {
	t.Helper()
	tableSeq++
	name := fmt.Sprintf("default.t%d_%d", time.Now().UnixNano(), tableSeq)
	ddl := "CREATE TABLE " + name + " (" + cols + ") ENGINE = MergeTree ORDER BY tuple() SETTINGS non_replicated_deduplication_window = 1000"
	if err := s.Exec(context.Background(), ddl, nil); err != nil {
		t.Fatal(err)
	}
	return name
}

var propCols = []Column{
	{"s", "String"}, {"lc", "LowCardinality(String)"}, {"u64", "UInt64"}, {"i64", "Int64"},
	{"u8", "UInt8"}, {"f", "Float64"}, {"ts", "DateTime64(3, 'UTC')"}, {"m", "Map(String, String)"},
	{"a", "Array(String)"}, {"n", "Nullable(String)"}, {"b", "Bool"},
}

type propRow struct {
	S, LC string
	U64   uint64
	I64   int64
	U8    uint8
	F     float64
	TS    int64
	M     map[string]string
	A     []string
	N     *string
	B     bool
}

func randString(r *rand.Rand) string {
	n := r.IntN(40)
	if r.IntN(10) == 0 {
		n = r.IntN(5000)
	}
	b := make([]byte, n)
	for i := range b {
		switch r.IntN(4) {
		case 0: // bytes that break naive text formats
			const nasty = "\x00\n\t\r\\'\",; {}[]"
			b[i] = nasty[r.IntN(len(nasty))]
		default:
			b[i] = byte(r.IntN(256))
		}
	}
	return string(b)
}

func randRow(r *rand.Rand) propRow {
	row := propRow{
		S: randString(r), LC: fmt.Sprint(r.IntN(5)),
		U64: r.Uint64(), I64: int64(r.Uint64()), U8: uint8(r.IntN(256)),
		F:  []float64{0, -0.5, math.MaxFloat64, math.SmallestNonzeroFloat64, r.NormFloat64() * 1e6}[r.IntN(5)],
		TS: r.Int64N(4102444800000), B: r.IntN(2) == 0, M: map[string]string{},
	}
	for i := 0; i < r.IntN(4); i++ {
		row.M[randString(r)] = randString(r)
		row.A = append(row.A, randString(r))
	}
	if r.IntN(2) == 0 {
		s := randString(r)
		row.N = &s
	}
	return row
}

// TestBulkInsertRoundTrip is the property test of the bulk-insert path (Native blocks through file()): random
// rows of arbitrary bytes and extreme numbers come back exactly as written.
// Strings are compared through hex() so the output format cannot mangle them.
func TestBulkInsertRoundTrip(t *testing.T) { testRoundTrip(t, testStore(t)) }

func testRoundTrip(t *testing.T, s Store) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 5; seed++ {
		r := rand.New(rand.NewPCG(seed, 42))
		table := freshTable(t, s, structure(propCols)+", seq UInt32")
		cols := append(append([]Column{}, propCols...), Column{"seq", "UInt32"})
		b, err := s.PrepareInsert(ctx, table, cols, "")
		if err != nil {
			t.Fatal(err)
		}
		want := make([]propRow, 2000)
		for i := range want {
			want[i] = randRow(r)
			row := want[i]
			var n any
			if row.N != nil {
				n = *row.N
			}
			a := row.A
			if a == nil {
				a = []string{}
			}
			if err := b.Append(row.S, row.LC, row.U64, row.I64, row.U8, row.F, row.TS, row.M, a, n, row.B, uint32(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(ctx); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		res, err := s.Query(ctx, `SELECT hex(s), lc, toString(u64), toString(i64), u8, reinterpretAsUInt64(f), toUnixTimestamp64Milli(ts),
			arrayMap(k -> hex(k), mapKeys(m)), arrayMap(v -> hex(v), mapValues(m)), arrayMap(x -> hex(x), a), if(isNull(n), 'NULL', hex(assumeNotNull(n))), b
			FROM `+table+` ORDER BY seq`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != len(want) {
			t.Fatalf("seed %d: %d rows back, want %d", seed, len(res.Rows), len(want))
		}
		for i, got := range res.Rows {
			w := want[i]
			check := func(name string, g any, exp string) {
				if fmt.Sprint(g) != exp {
					t.Fatalf("seed %d row %d column %s: got %v want %s", seed, i, name, g, exp)
				}
			}
			check("s", got[0], fmt.Sprintf("%X", w.S))
			check("lc", got[1], w.LC)
			check("u64", got[2], fmt.Sprint(w.U64))
			check("i64", got[3], fmt.Sprint(w.I64))
			check("u8", got[4], fmt.Sprint(w.U8))
			check("f", got[5], fmt.Sprint(math.Float64bits(w.F)))
			check("ts", got[6], fmt.Sprint(w.TS))
			gotMap := map[string]string{}
			ks, vs := got[7].([]any), got[8].([]any)
			for j := range ks {
				gotMap[fmt.Sprint(ks[j])] = fmt.Sprint(vs[j])
			}
			wantMap := map[string]string{}
			for k, v := range w.M {
				wantMap[fmt.Sprintf("%X", k)] = fmt.Sprintf("%X", v)
			}
			gm, _ := json.Marshal(gotMap)
			wm, _ := json.Marshal(wantMap)
			check("m", string(gm), string(wm))
			var wantA []string
			for _, x := range w.A {
				wantA = append(wantA, fmt.Sprintf("%X", x))
			}
			ga := []string{}
			for _, x := range got[9].([]any) {
				ga = append(ga, fmt.Sprint(x))
			}
			check("a", strings.Join(ga, ","), strings.Join(wantA, ","))
			wn := "NULL"
			if w.N != nil {
				wn = fmt.Sprintf("%X", *w.N)
			}
			check("n", got[10], wn)
			check("b", got[11], fmt.Sprint(w.B))
		}
	}
}

// FuzzBulkInsertString feeds the fuzzer's strings through the insert path.
func FuzzBulkInsertString(f *testing.F) {
	for _, seed := range []string{"", "\n", " a", "\t\tb", "\x00", "\\", "'", "\xff\xfe", strings.Repeat("\n", 300)} {
		f.Add(seed, uint64(10), int64(-1))
	}
	s := testStore(f)
	ctx := context.Background()
	table := freshTable(f, s, "s String, u UInt64, i Int64, k UInt64")
	var k uint64
	f.Fuzz(func(t *testing.T, str string, u uint64, i int64) {
		k++
		b, err := s.PrepareInsert(ctx, table, []Column{{"s", "String"}, {"u", "UInt64"}, {"i", "Int64"}, {"k", "UInt64"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(str, u, i, k); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := s.Query(ctx, "SELECT hex(s), toString(u), toString(i) FROM "+table+" WHERE k = {k:UInt64}", Params{"k": fmt.Sprint(k)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 1 {
			t.Fatalf("%d rows", len(res.Rows))
		}
		got := fmt.Sprint(res.Rows[0]...)
		want := fmt.Sprint(fmt.Sprintf("%X", str), fmt.Sprint(u), fmt.Sprint(i))
		if got != want {
			t.Fatalf("got %s want %s", got, want)
		}
	})
}

func TestDedupToken(t *testing.T) { testDedupToken(t, testStore(t)) }

func testDedupToken(t *testing.T, s Store) {
	ctx := context.Background()
	table := freshTable(t, s, "k UInt64, s String")
	send := func(token string, from, to int) {
		b, err := s.PrepareInsert(ctx, table, []Column{{"k", "UInt64"}, {"s", "String"}}, token)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			if err := b.Append(uint64(i), "x"); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	count := func() string {
		res, err := s.Query(ctx, "SELECT count() FROM "+table, nil)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(res.Rows[0][0])
	}
	send("raw/0/0-99", 0, 100)
	send("raw/0/0-99", 0, 100)
	if c := count(); c != "100" {
		t.Fatalf("retry with same token duplicated rows: count %s", c)
	}
	send("raw/0/100-199", 100, 200)
	if c := count(); c != "200" {
		t.Fatalf("new token was deduplicated: count %s", c)
	}
}

func TestMigrateAppliesOnce(t *testing.T) { testMigrateAppliesOnce(t, testStore(t)) }

func testMigrateAppliesOnce(t *testing.T, s Store) {
	ctx := context.Background()
	db := fmt.Sprintf("mig%d", time.Now().UnixNano())
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte("-- first\nCREATE TABLE IF NOT EXISTS ${db}.a (x UInt8) ENGINE = MergeTree ORDER BY x;\nINSERT INTO ${db}.a VALUES (1);\n")},
		"m/0002_b.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS ${db}.b (x UInt8) ENGINE = MergeTree ORDER BY x;")},
		"m/README.md":  {Data: []byte("not a migration")},
	}
	migs, err := LoadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	applied, err := Migrate(ctx, s, db, migs)
	if err != nil || len(applied) != 2 {
		t.Fatalf("first run: applied %v, err %v", applied, err)
	}
	applied, err = Migrate(ctx, s, db, migs)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second run: applied %v, err %v", applied, err)
	}
	res, err := s.Query(ctx, "SELECT count() FROM "+db+".a", nil)
	if err != nil || fmt.Sprint(res.Rows[0][0]) != "1" {
		t.Fatalf("migration 1 ran twice: %v %v", res, err)
	}
	fsys["m/0001_a.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE edited")}
	migs, _ = LoadMigrations(fsys, "m")
	if _, err := Migrate(ctx, s, db, migs); err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
		t.Fatalf("edited migration not refused: %v", err)
	}
}

func TestQueryErrorAsEngineReports(t *testing.T) {
	s := testStore(t)
	_, err := s.Query(context.Background(), "SELEC 1", nil)
	if err == nil || !strings.Contains(err.Error(), "SYNTAX_ERROR") {
		t.Fatalf("want the engine's syntax error, got %v", err)
	}
}

// TestStaging checks both ways a batch is staged for the engine: the bytes
// read back as written, and nothing is left behind once released.
func TestStaging(t *testing.T) {
	e := testStore(t)
	parts := [][]byte{[]byte("native "), []byte("block")}
	stages := map[string]func([][]byte) (string, func(), error){"on disk": e.stageOnDisk, "chosen": e.stage}
	for name, stage := range stages {
		path, release, err := stage(parts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != "native block" {
			t.Fatalf("%s: read back %q, %v", name, got, err)
		}
		release()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s: %s still there after release (%v)", name, path, err)
		}
	}
}
