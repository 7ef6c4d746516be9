package chstore

import (
	"fmt"
	"regexp"
	"strings"
)

// ClusterOptions shape the clustered variant of the migrations.
type ClusterOptions struct {
	// Cluster is the name in ON CLUSTER and Distributed(); default the
	// macro "{cluster}".
	Cluster string
	// ZooKeeperPath is the replication path of a local table; {database}
	// and {table} are filled in, other macros ({shard}, {uuid}) are left to
	// the server. Default "/clickhouse/tables/{shard}/{database}/{table}".
	ZooKeeperPath string
	// Replica is the replica name; default the macro "{replica}".
	Replica string
	// LocalSuffix names the replicated local table of a table; default "_local".
	LocalSuffix string
}

func (o ClusterOptions) withDefaults() ClusterOptions {
	if o.Cluster == "" {
		o.Cluster = "{cluster}"
	}
	if o.ZooKeeperPath == "" {
		o.ZooKeeperPath = "/clickhouse/tables/{shard}/{database}/{table}"
	}
	if o.Replica == "" {
		o.Replica = "{replica}"
	}
	if o.LocalSuffix == "" {
		o.LocalSuffix = "_local"
	}
	return o
}

// ClusterStatement is one statement of the clustered DDL and the migration
// it comes from (version 0: the database and schema_migrations).
type ClusterStatement struct {
	Version int
	Name    string
	SQL     string
}

// ClusterDDL rewrites the migrations for a cluster. Every table becomes a
// replicated local table (<name>_local, the Replicated variant of its
// engine, ON CLUSTER) and a Distributed table under the original name,
// sharded by (tenant, account) where the table has them, so every version
// of an entity, and every key of an aggregate, lives on one shard and FINAL
// stays exact. Views keep their names and read the Distributed tables;
// materialized views read and write the local tables, so they run on the
// shard where the rows land. Statements that are neither (ALTER of a
// column goes to both tables) are refused rather than guessed at.
// The last statements record the migrations in schema_migrations, so
// services started against the cluster do not apply the single-node DDL.
func ClusterDDL(migs []Migration, db string, opt ClusterOptions) ([]ClusterStatement, error) {
	opt = opt.withDefaults()
	g := &clusterGen{opt: opt, db: db, local: map[string]bool{}}
	qdb := QuoteIdent(db)
	out := []ClusterStatement{
		{SQL: "CREATE DATABASE IF NOT EXISTS " + qdb + g.onCluster()},
	}
	mig, err := g.table(0, db+".schema_migrations", `CREATE TABLE IF NOT EXISTS `+db+`.schema_migrations
(
    version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version`)
	if err != nil {
		return nil, err
	}
	for _, s := range mig {
		out = append(out, ClusterStatement{SQL: s})
	}
	for _, m := range migs {
		for i, stmt := range m.Statements(db) {
			stmts, err := g.rewrite(stmt)
			if err != nil {
				return nil, fmt.Errorf("migration %04d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
			}
			for _, s := range stmts {
				out = append(out, ClusterStatement{Version: m.Version, Name: m.Name, SQL: s})
			}
		}
	}
	for _, m := range migs {
		out = append(out, ClusterStatement{Version: m.Version, Name: m.Name, SQL: fmt.Sprintf(
			"INSERT INTO %s.schema_migrations (version, name, checksum) SETTINGS distributed_foreground_insert = 1 VALUES (%d, %s, %s)",
			qdb, m.Version, quoteString(m.Name), quoteString(m.Checksum))})
	}
	return out, nil
}

type clusterGen struct {
	opt   ClusterOptions
	db    string
	local map[string]bool // tables made local+distributed, by name without db
}

func (g *clusterGen) onCluster() string { return " ON CLUSTER " + quoteString(g.opt.Cluster) }

var (
	createRe = regexp.MustCompile(`(?is)^CREATE\s+(TABLE|VIEW|MATERIALIZED\s+VIEW)\s+(IF\s+NOT\s+EXISTS\s+)?([\w.` + "`" + `]+)\s*`)
	alterRe  = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+([\w.` + "`" + `]+)\s+(.*)$`)
	dropRe   = regexp.MustCompile(`(?is)^DROP\s+(TABLE|VIEW)\s+(IF\s+EXISTS\s+)?([\w.` + "`" + `]+)\s*(.*)$`)
	engineRe = regexp.MustCompile(`(?is)^\s*ENGINE\s*=\s*(\w+)\s*`)
	toRe     = regexp.MustCompile(`(?is)^TO\s+([\w.` + "`" + `]+)\s*`)
	columnRe = regexp.MustCompile(`(?i)\bCOLUMN\b`)

	nonReplicatedWindowRe = regexp.MustCompile(`(?i)(^|[^\w])non_replicated_deduplication_window`)
)

// rewrite turns one single-node statement into its clustered statements.
func (g *clusterGen) rewrite(stmt string) ([]string, error) {
	stmt = strings.TrimSpace(stmt)
	if m := createRe.FindStringSubmatchIndex(stmt); m != nil {
		kind := strings.ToUpper(strings.Join(strings.Fields(stmt[m[2]:m[3]]), " "))
		name := stmt[m[6]:m[7]]
		switch kind {
		case "TABLE":
			return g.table(m[1], name, stmt)
		case "VIEW":
			return []string{g.withCluster(stmt, m[7])}, nil
		default:
			return g.materialized(stmt, m)
		}
	}
	if m := alterRe.FindStringSubmatch(stmt); m != nil {
		name := g.bare(m[1])
		if !g.local[name] {
			return nil, fmt.Errorf("ALTER TABLE %s: not a table of these migrations", m[1])
		}
		out := []string{"ALTER TABLE " + g.localName(name) + g.onCluster() + " " + m[2]}
		if columnRe.MatchString(m[2]) { // the Distributed table has the columns too
			out = append(out, "ALTER TABLE "+g.qualified(name)+g.onCluster()+" "+m[2])
		}
		return out, nil
	}
	if m := dropRe.FindStringSubmatch(stmt); m != nil {
		name := g.bare(m[3])
		var out []string
		out = append(out, "DROP "+m[1]+" "+m[2]+g.qualified(name)+g.onCluster()+" "+m[4])
		if g.local[name] {
			out = append(out, "DROP "+m[1]+" "+m[2]+g.localName(name)+g.onCluster()+" "+m[4])
			delete(g.local, name)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no clustered form for %.40q…: only CREATE TABLE/VIEW/MATERIALIZED VIEW, ALTER TABLE and DROP are rewritten", stmt)
}

// table: CREATE TABLE name (columns) ENGINE = XMergeTree(args) rest.
func (g *clusterGen) table(afterName int, name, stmt string) ([]string, error) {
	if afterName == 0 {
		m := createRe.FindStringSubmatchIndex(stmt)
		afterName = m[1]
	}
	rest := stmt[afterName:]
	if !strings.HasPrefix(rest, "(") {
		return nil, fmt.Errorf("CREATE TABLE %s: only the (columns) ENGINE = … form is rewritten", name)
	}
	end, err := closing(rest, 0)
	if err != nil {
		return nil, fmt.Errorf("CREATE TABLE %s: %w", name, err)
	}
	columns := rest[:end+1]
	tail := rest[end+1:]
	em := engineRe.FindStringSubmatchIndex(tail)
	if em == nil {
		return nil, fmt.Errorf("CREATE TABLE %s: no ENGINE clause", name)
	}
	engine := tail[em[2]:em[3]]
	if !strings.HasSuffix(engine, "MergeTree") || strings.HasPrefix(engine, "Replicated") {
		return nil, fmt.Errorf("CREATE TABLE %s: engine %s has no replicated form here", name, engine)
	}
	after := tail[em[1]:]
	var args string
	if strings.HasPrefix(after, "(") {
		e, err := closing(after, 0)
		if err != nil {
			return nil, fmt.Errorf("CREATE TABLE %s engine: %w", name, err)
		}
		args = strings.TrimSpace(after[1:e])
		after = after[e+1:]
	}
	bare := g.bare(name)
	path := strings.NewReplacer("{database}", g.db, "{table}", bare+g.opt.LocalSuffix).Replace(g.opt.ZooKeeperPath)
	repArgs := quoteString(path) + ", " + quoteString(g.opt.Replica)
	if args != "" {
		repArgs += ", " + args
	}
	// Insert deduplication of a replicated table has its own window setting.
	after = nonReplicatedWindowRe.ReplaceAllString(after, "${1}replicated_deduplication_window")
	local := "CREATE TABLE IF NOT EXISTS " + g.localName(bare) + g.onCluster() + "\n" + columns +
		"\nENGINE = Replicated" + engine + "(" + repArgs + ")" + strings.TrimRight(after, " \t\n")
	dist := "CREATE TABLE IF NOT EXISTS " + g.qualified(bare) + g.onCluster() + " AS " + g.localName(bare) +
		"\nENGINE = Distributed(" + quoteString(g.opt.Cluster) + ", " + QuoteIdent(g.db) + ", " + QuoteIdent(bare+g.opt.LocalSuffix) +
		", " + shardingKey(columns, after) + ")"
	g.local[bare] = true
	return []string{local, dist}, nil
}

// materialized: the view and its source and target tables are local.
func (g *clusterGen) materialized(stmt string, m []int) ([]string, error) {
	name := stmt[m[6]:m[7]]
	rest := stmt[m[1]:]
	tm := toRe.FindStringSubmatch(rest)
	if tm == nil {
		return nil, fmt.Errorf("CREATE MATERIALIZED VIEW %s: only the TO <table> form is rewritten", name)
	}
	target := g.bare(tm[1])
	if !g.local[target] {
		return nil, fmt.Errorf("CREATE MATERIALIZED VIEW %s: target %s is not a table of these migrations", name, tm[1])
	}
	query := rest[len(tm[0]):]
	for t := range g.local {
		re := regexp.MustCompile(`(^|[^\w.` + "`" + `])` + regexp.QuoteMeta(g.db) + `\.` + regexp.QuoteMeta(t) + `\b`)
		query = re.ReplaceAllString(query, "${1}"+g.localName(t))
	}
	head := stmt[:m[7]]
	return []string{head + g.onCluster() + " TO " + g.localName(target) + " " + query}, nil
}

func (g *clusterGen) withCluster(stmt string, afterName int) string {
	return stmt[:afterName] + g.onCluster() + stmt[afterName:]
}

// bare is a table name without its database and quotes.
func (g *clusterGen) bare(name string) string {
	name = strings.ReplaceAll(name, "`", "")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func (g *clusterGen) qualified(bare string) string { return QuoteIdent(g.db) + "." + QuoteIdent(bare) }

func (g *clusterGen) localName(bare string) string {
	return QuoteIdent(g.db) + "." + QuoteIdent(bare+g.opt.LocalSuffix)
}

// closing finds the parenthesis that closes the one at s[open], skipping
// quoted strings and identifiers.
func closing(s string, open int) (int, error) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"', '`':
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("unbalanced parentheses")
}

var (
	columnNameRe = regexp.MustCompile(`(?m)^\s*` + "`?" + `(\w+)` + "`?" + `\s+\w`)
	orderByRe    = regexp.MustCompile(`(?is)\bORDER\s+BY\s+(\([^)]*\)|[\w]+)`)
)

// shardingKey keeps a tenant's account on one shard when the table has
// tenant and account columns; else it hashes the leading sorting-key
// columns, so the versions of one key meet on one shard.
func shardingKey(columns, tail string) string {
	has := map[string]bool{}
	for _, m := range columnNameRe.FindAllStringSubmatch(columns, -1) {
		has[m[1]] = true
	}
	if has["tenant"] && has["account"] {
		return "cityHash64(tenant, account)"
	}
	if m := orderByRe.FindStringSubmatch(tail); m != nil {
		cols := strings.Split(strings.Trim(m[1], "()"), ",")
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		if len(cols) > 3 {
			cols = cols[:3]
		}
		if cols[0] != "" && cols[0] != "tuple" {
			return "cityHash64(" + strings.Join(cols, ", ") + ")"
		}
	}
	return "rand()"
}
