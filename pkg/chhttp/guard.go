package chhttp

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// A tenant's user sees only its tenant's rows, as it would on a ClickHouse
// server with a row policy "tenant = '<id>'" on every table and read-only
// grants on the data database. The embedded engine has no users, so the
// interface does it with the engine's own parser and planner:
//
//   - the statement is parsed by the engine (EXPLAIN AST) and every table,
//     table function and function it names is checked: tables of the data
//     database, the system tables that describe schema, and
//     information_schema are readable; table functions other than
//     generators, functions that read files or dictionaries, IN <table>
//     and SETTINGS clauses are refused, with the error a server gives a
//     read-only user without the grant (ACCESS_DENIED, READONLY);
//   - every table of the data database that has a tenant column gets the
//     filter through additional_table_filters, which the planner applies to
//     each read of the table — in subqueries, joins, CTEs and inside views.

// astRoots are the parsed statements a tenant user may run.
var astRoots = map[string]bool{
	"SelectWithUnionQuery": true, "SelectIntersectExceptQuery": true, "Explain": true, "DescribeQuery": true,
	"ExistsTableQuery": true, "ExistsDatabaseQuery": true, "ExistsViewQuery": true, "ShowTables": true,
	"ShowCreateTableQuery": true, "ShowCreateViewQuery": true, "ShowCreateDatabaseQuery": true,
	"ShowColumns": true, "ShowEngineQuery": true, "ShowFunctions": true, "ShowSettingQuery": true,
}

// Table functions that generate rows and reach nothing.
var tableFunctions = map[string]bool{
	"numbers": true, "numbers_mt": true, "zeros": true, "zeros_mt": true, "values": true, "generate_series": true,
	"generateSeries": true, "generateRandom": true, "null": true, "view": true, "format": true,
}

// Functions that read files, dictionaries or other tables by name.
var deniedFunctions = regexp.MustCompile(`^(?i:file|dictGet\w*|dictHas|dictIsIn|joinGet\w*|catboostEvaluate|naiveBayesClassifier|input|getSubcolumnFromFile)$`)

// System tables that describe the schema and the engine, not any data.
var systemTables = map[string]bool{
	"one": true, "numbers": true, "numbers_mt": true, "zeros": true, "zeros_mt": true, "databases": true, "tables": true,
	"columns": true, "functions": true, "table_functions": true, "formats": true, "data_type_families": true,
	"settings": true, "time_zones": true, "build_options": true, "collations": true, "table_engines": true,
	"database_engines": true, "keywords": true, "aggregate_function_combinators": true, "contributors": true,
	"licenses": true, "merge_tree_settings": true, "data_skipping_indices": true,
}

// astNode is one line of EXPLAIN AST: its kind, argument and children.
type astNode struct {
	kind, arg string
	children  []*astNode
	parent    *astNode
}

// parseAST reads EXPLAIN AST output: one node a line, indented by depth.
func parseAST(out string) *astNode {
	root := &astNode{kind: "root"}
	stack := []*astNode{root}
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		depth := len(line) - len(strings.TrimLeft(line, " "))
		text := strings.TrimSpace(line)
		if i := strings.Index(text, " (children "); i >= 0 {
			text = text[:i]
		}
		if i := strings.Index(text, " (alias "); i >= 0 {
			text = text[:i]
		}
		kind, arg, _ := strings.Cut(text, " ")
		for len(stack) > depth+1 {
			stack = stack[:len(stack)-1]
		}
		parent := stack[len(stack)-1]
		n := &astNode{kind: kind, arg: arg, parent: parent}
		parent.children = append(parent.children, n)
		stack = append(stack, n)
	}
	return root
}

func (n *astNode) walk(f func(*astNode) *Exception) *Exception {
	if err := f(n); err != nil {
		return err
	}
	for _, c := range n.children {
		if err := c.walk(f); err != nil {
			return err
		}
	}
	return nil
}

// tableInfo is what the guard knows of the data database's tables.
type tableInfo struct {
	tenantColumn bool
	view         bool
}

// catalog caches the data database's tables for a few seconds.
type catalog struct {
	mu      sync.Mutex
	at      time.Time
	tables  map[string]tableInfo
	refresh func() (map[string]tableInfo, error)
}

func (c *catalog) get() (map[string]tableInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tables != nil && time.Since(c.at) < 2*time.Second {
		return c.tables, nil
	}
	t, err := c.refresh()
	if err != nil {
		return nil, err
	}
	c.tables, c.at = t, time.Now()
	return t, nil
}

var cteName = regexp.MustCompile("([A-Za-z_][A-Za-z0-9_]*|`[^`]*`)\\s+AS\\s+\\(")

// checkTenant checks a tenant user's parsed statement and returns the
// additional_table_filters setting that confines it to the tenant.
func checkTenant(u *user, database string, normalised string, ast *astNode, tables map[string]tableInfo) (string, *Exception) {
	denied := func(what string) *Exception {
		return exception(codeAccessDenied, "%s: Not enough privileges. To execute this query, it's necessary to have the grant %s", u.name, what)
	}
	if len(ast.children) != 1 || !astRoots[ast.children[0].kind] {
		return "", exception(codeReadonly, "%s: Cannot execute query in readonly mode", u.name)
	}
	ctes := map[string]bool{}
	for _, m := range cteName.FindAllStringSubmatch(normalised, -1) {
		ctes[strings.Trim(m[1], "`")] = true
	}
	err := ast.walk(func(n *astNode) *Exception {
		switch n.kind {
		case "Set":
			return exception(codeReadonly, "%s: Cannot modify settings in readonly mode", u.name)
		case "TableIdentifier":
			db, table, ok := splitTableName(n.arg, database)
			if !ok {
				return denied(fmt.Sprintf("SELECT ON %s", n.arg))
			}
			if db == database && ctes[table] && !strings.Contains(n.arg, ".") {
				if _, real := tables[table]; !real {
					return nil
				}
			}
			return checkTable(db, table, database, tables, denied)
		case "Function":
			inTable := n.parent != nil && n.parent.kind == "TableExpression"
			if inTable && !tableFunctions[n.arg] {
				return denied(fmt.Sprintf("CREATE TEMPORARY TABLE, %s ON *.*", strings.ToUpper(n.arg)))
			}
			if !inTable && deniedFunctions.MatchString(n.arg) {
				return denied(fmt.Sprintf("%s ON *.*", strings.ToUpper(n.arg)))
			}
			if strings.HasSuffix(strings.ToLower(n.arg), "in") && len(n.children) == 1 {
				args := n.children[0].children
				if len(args) == 2 && args[1].kind == "Identifier" {
					return denied(fmt.Sprintf("SELECT ON %s (IN a table by name; use IN (SELECT …))", args[1].arg))
				}
			}
		case "ShowCreateTableQuery", "ShowCreateViewQuery", "ExistsTableQuery", "ExistsViewQuery":
			// "ShowCreateTableQuery db table": schema only; the database must be readable.
			if f := strings.Fields(n.arg); len(f) == 2 && !readableDatabase(f[0], database) {
				return denied(fmt.Sprintf("SHOW TABLES ON %s.%s", f[0], f[1]))
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return tenantFilters(u.tenant, database, tables), nil
}

func readableDatabase(db, data string) bool {
	return db == data || db == "system" || strings.EqualFold(db, "information_schema")
}

// splitTableName splits "db.table" (or "table", in the current database).
// A name with more dots is ambiguous in EXPLAIN AST's output and refused.
func splitTableName(name, current string) (db, table string, ok bool) {
	switch parts := strings.Split(name, "."); len(parts) {
	case 1:
		return current, parts[0], true
	case 2:
		return parts[0], parts[1], true
	}
	return "", "", false
}

func checkTable(db, table, data string, tables map[string]tableInfo, denied func(string) *Exception) *Exception {
	switch {
	case db == data:
		if t, ok := tables[table]; ok && (t.tenantColumn || t.view) {
			return nil
		}
		if _, ok := tables[table]; !ok {
			// Unknown to the catalog (or created in the last seconds):
			// reported missing rather than read unfiltered.
			return exception(60, "Table %s.%s does not exist", db, table)
		}
	case db == "system":
		if systemTables[table] {
			return nil
		}
	case strings.EqualFold(db, "information_schema"):
		return nil
	}
	return denied(fmt.Sprintf("SELECT ON %s.%s", db, table))
}

// tenantFilters is the additional_table_filters value: the tenant's rows
// of every table of the data database with a tenant column.
func tenantFilters(tenant, database string, tables map[string]tableInfo) string {
	names := make([]string, 0, len(tables))
	for name, t := range tables {
		if t.tenantColumn {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = quote(database+"."+name) + ": " + quote("tenant = "+quote(tenant))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
