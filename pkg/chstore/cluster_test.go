package chstore

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// formatted has the engine's own parser read q and print it back.
func formatted(t *testing.T, s Store, q string) string {
	t.Helper()
	res, err := s.Query(context.Background(), "SELECT formatQuerySingleLine({q:String})", Params{"q": q})
	if err != nil {
		t.Fatalf("the engine does not parse:\n%s\n%v", q, err)
	}
	return res.Rows[0][0].(string)
}

func TestClusterDDLOfTheMigrationsParses(t *testing.T) {
	migs, err := LoadMigrations(os.DirFS("../../schemas"), "clickhouse")
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) < 6 {
		t.Fatalf("found %d migrations", len(migs))
	}
	stmts, err := ClusterDDL(migs, "throughline", ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := testStore(t)
	locals, dists := map[string]bool{}, map[string]bool{}
	localRe := regexp.MustCompile("^CREATE TABLE IF NOT EXISTS throughline\\.(\\w+)_local ON CLUSTER `\\{cluster\\}` \\(.*\\) ENGINE = Replicated\\w*MergeTree\\('/clickhouse/tables/\\{shard\\}/throughline/(\\w+)_local', '\\{replica\\}'")
	distRe := regexp.MustCompile("^CREATE TABLE IF NOT EXISTS throughline\\.(\\w+) ON CLUSTER `\\{cluster\\}` AS throughline\\.(\\w+)_local ENGINE = Distributed\\('\\{cluster\\}', throughline, (\\w+)_local, (.*)\\)$")
	for _, st := range stmts {
		f := formatted(t, s, st.SQL)
		switch {
		case strings.HasPrefix(f, "INSERT INTO throughline.schema_migrations"):
		case !strings.Contains(f, "ON CLUSTER `{cluster}`"):
			t.Errorf("%04d: no ON CLUSTER: %s", st.Version, f)
		case localRe.MatchString(f):
			m := localRe.FindStringSubmatch(f)
			if m[1] != m[2] {
				t.Errorf("replication path of %s names %s", m[1], m[2])
			}
			locals[m[1]] = true
		case distRe.MatchString(f):
			m := distRe.FindStringSubmatch(f)
			if m[1] != m[2] || m[1] != m[3] {
				t.Errorf("distributed %s over %s/%s", m[1], m[2], m[3])
			}
			if strings.Contains(f, "tenant String") || m[4] == "rand()" {
				t.Errorf("%s: sharding key %s", m[1], m[4])
			}
			dists[m[1]] = true
		case strings.HasPrefix(f, "CREATE MATERIALIZED VIEW"):
			if !regexp.MustCompile(`TO throughline\.\w+_local .* FROM throughline\.\w+_local`).MatchString(f) {
				t.Errorf("materialized view not on local tables: %s", f)
			}
		case strings.HasPrefix(f, "ALTER TABLE"):
			if !regexp.MustCompile(`^ALTER TABLE throughline\.\w+_local `).MatchString(f) && !strings.Contains(f, "COLUMN") {
				t.Errorf("ALTER of a Distributed table without a column change: %s", f)
			}
		case strings.HasPrefix(f, "DROP VIEW"): // a view recreated to take its table's new columns
		case strings.HasPrefix(f, "CREATE VIEW"), strings.HasPrefix(f, "CREATE DATABASE"):
			if strings.Contains(f, "_local") {
				t.Errorf("view reads local tables: %s", f)
			}
		default:
			t.Errorf("unexpected statement: %s", f)
		}
		if regexp.MustCompile(`ENGINE = (Replacing|Summing|Aggregating)?MergeTree`).MatchString(f) {
			t.Errorf("an unreplicated engine: %s", f)
		}
	}
	for _, table := range []string{"events", "sessions", "calls", "leads", "deals", "attribution", "costs", "dead_letters",
		"loader_batches", "schema_migrations", "traffic_daily", "leads_daily", "leads_hourly", "analytics_changes", "analytics_refreshes"} {
		if !locals[table] || !dists[table] {
			t.Errorf("%s: local %v, distributed %v", table, locals[table], dists[table])
		}
	}
	if len(locals) != len(dists) {
		t.Errorf("%d local tables, %d distributed", len(locals), len(dists))
	}
	// Entities and aggregates keep an account on one shard.
	for _, st := range stmts {
		if strings.Contains(st.SQL, "Distributed(") && (strings.Contains(st.SQL, "`sessions_local`") || strings.Contains(st.SQL, "`leads_daily_local`")) &&
			!strings.Contains(st.SQL, "cityHash64(tenant, account)") {
			t.Errorf("sharding: %s", st.SQL)
		}
	}
	// The migrations are recorded with the checksums Migrate checks.
	last := stmts[len(stmts)-1]
	if !strings.Contains(last.SQL, migs[len(migs)-1].Checksum) {
		t.Errorf("last statement %s does not record migration %d", last.SQL, migs[len(migs)-1].Version)
	}
}

func TestClusterDDLAltersAndDrops(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte(`CREATE TABLE IF NOT EXISTS ${db}.t
(
    tenant  LowCardinality(String),
    account LowCardinality(String),
    ts      DateTime64(3, 'UTC'),
    v       UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant, account, ts)
TTL toDateTime(ts) + INTERVAL 1 DAY
SETTINGS non_replicated_deduplication_window = 100;
CREATE TABLE IF NOT EXISTS ${db}.k (id String, n UInt64) ENGINE = SummingMergeTree((n)) ORDER BY id;`)},
		"m/0002_b.sql": {Data: []byte(`ALTER TABLE ${db}.t ADD COLUMN IF NOT EXISTS w String;
ALTER TABLE ${db}.t ADD INDEX IF NOT EXISTS w_idx w TYPE bloom_filter GRANULARITY 4;
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.mv TO ${db}.k AS
SELECT a.tenant AS id, count() AS n FROM ${db}.t AS a LEFT JOIN ${db}.k AS b ON b.id = a.tenant GROUP BY id;
DROP TABLE IF EXISTS ${db}.k;`)},
	}
	migs, err := LoadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := ClusterDDL(migs, "db1", ClusterOptions{Cluster: "prod", ZooKeeperPath: "/ch/{shard}/{database}/{table}", Replica: "r-{replica}"})
	if err != nil {
		t.Fatal(err)
	}
	s := testStore(t)
	var got []string
	for _, st := range stmts {
		got = append(got, formatted(t, s, st.SQL))
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"ENGINE = ReplicatedMergeTree('/ch/{shard}/db1/t_local', 'r-{replica}') PARTITION BY toYYYYMM(ts) ORDER BY (tenant, account, ts) TTL toDateTime(ts) + toIntervalDay(1) SETTINGS replicated_deduplication_window = 100",
		"ENGINE = ReplicatedSummingMergeTree('/ch/{shard}/db1/k_local', 'r-{replica}', (n))",
		"ENGINE = Distributed('prod', db1, k_local, cityHash64(id))",
		"ALTER TABLE db1.t_local ON CLUSTER prod (ADD COLUMN IF NOT EXISTS `w` String)",
		"ALTER TABLE db1.t ON CLUSTER prod (ADD COLUMN IF NOT EXISTS `w` String)",
		"ALTER TABLE db1.t_local ON CLUSTER prod (ADD INDEX IF NOT EXISTS w_idx w TYPE bloom_filter GRANULARITY 4)",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS db1.mv ON CLUSTER prod TO db1.k_local AS SELECT a.tenant AS id, count() AS n FROM db1.t_local AS a LEFT JOIN db1.k_local AS b",
		"DROP TABLE IF EXISTS db1.k ON CLUSTER prod",
		"DROP TABLE IF EXISTS db1.k_local ON CLUSTER prod",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing: %s", want)
		}
	}
	if strings.Contains(all, "ALTER TABLE db1.t ON CLUSTER prod (ADD INDEX") {
		t.Error("an index was added to the Distributed table")
	}

	for _, bad := range []string{
		"INSERT INTO ${db}.t VALUES (1)",
		"CREATE TABLE IF NOT EXISTS ${db}.m (a Int32) ENGINE = Memory",
		"CREATE MATERIALIZED VIEW ${db}.x ENGINE = MergeTree ORDER BY a AS SELECT 1 AS a",
		"ALTER TABLE ${db}.unknown ADD COLUMN a Int32",
	} {
		_, err := ClusterDDL([]Migration{{Version: 1, Name: "x", SQL: bad}}, "db1", ClusterOptions{})
		if err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
