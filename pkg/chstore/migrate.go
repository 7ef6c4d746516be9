package chstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema change.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// LoadMigrations reads NNNN_name.sql files from dir in fsys, in version order.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if prev, ok := seen[v]; ok {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Statements splits a migration into statements at semicolons that end a
// line, after substituting ${db}. Comments starting with -- are dropped.
func (m Migration) Statements(db string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(m.SQL, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmts = append(stmts, finish(cur.String(), db))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, finish(s, db))
	}
	return stmts
}

func finish(s, db string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ";")
	return strings.ReplaceAll(s, "${db}", db)
}

// Migrate applies the migrations not yet recorded in db.schema_migrations and
// records each. A recorded migration whose file changed is an error: applied
// migrations are never edited, a new one is added instead. Statements must be
// idempotent (IF NOT EXISTS) so a migration cut off half-way can run again.
func Migrate(ctx context.Context, s Store, db string, migs []Migration) (applied []int, err error) {
	if err := s.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+QuoteIdent(db), nil); err != nil {
		return nil, fmt.Errorf("creating database %s: %w", db, err)
	}
	table := QuoteIdent(db) + ".schema_migrations"
	ddl := "CREATE TABLE IF NOT EXISTS " + table + ` (
		version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
	) ENGINE = ReplacingMergeTree ORDER BY version`
	if err := s.Exec(ctx, ddl, nil); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", err)
	}
	res, err := s.Query(ctx, "SELECT version, any(checksum) FROM "+table+" GROUP BY version", nil)
	if err != nil {
		return nil, fmt.Errorf("reading schema_migrations: %w", err)
	}
	done := map[int]string{}
	for _, r := range res.Rows {
		v, _ := strconv.Atoi(fmt.Sprint(r[0]))
		done[v] = fmt.Sprint(r[1])
	}
	for _, m := range migs {
		if sum, ok := done[m.Version]; ok {
			if sum != m.Checksum {
				return applied, fmt.Errorf("migration %04d_%s was changed after it was applied; add a new migration instead", m.Version, m.Name)
			}
			continue
		}
		for i, stmt := range m.Statements(db) {
			if err := s.Exec(ctx, stmt, nil); err != nil {
				return applied, fmt.Errorf("applying migration %04d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		err := s.Exec(ctx, "INSERT INTO "+table+" (version, name, checksum) VALUES ({v:UInt32}, {n:String}, {c:String})",
			Params{"v": strconv.Itoa(m.Version), "n": m.Name, "c": m.Checksum})
		if err != nil {
			return applied, fmt.Errorf("recording migration %04d_%s: %w", m.Version, m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}
