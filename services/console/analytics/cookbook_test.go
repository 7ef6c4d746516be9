package analytics

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/throughline/throughline/services/console/internal/testnet"
)

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

// TestCookbookQueriesRun runs every SQL block of docs/cookbook.md as
// written, against a database named throughline holding ten days of tenant
// acme up to today, refreshed, and expects rows from each.
func TestCookbookQueriesRun(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/cookbook.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := sqlBlock.FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 8 {
		t.Fatalf("found %d SQL blocks in the cookbook", len(blocks))
	}
	w := testnet.NewNamed(t, engine, "throughline")
	today := time.Now().UTC().Truncate(24 * time.Hour)
	g := generateAt(t, w, 3, 4, 400, "acme", today.AddDate(0, 0, -9))
	g.restate()
	// One branch's CRM marks a deal won without its amount.
	for _, id := range sortedIDs(g.deals) {
		if d := g.deals[id]; !d.Deleted {
			d.Outcome, d.AmountMinor, d.RevenueMinor, d.WonAt = "won", 0, 0, d.CreatedAt
			l := g.leads[d.LeadID]
			g.relead(l)
			w.Put(d, l)
			w.Put(g.attribution(l)...)
			break
		}
	}
	if _, err := refresher(t, w, moscow).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	metricaExport(t, string(doc))
	for i, b := range blocks {
		res, err := engine.Query(context.Background(), b[1], nil)
		if err != nil {
			t.Errorf("cookbook query %d does not run:\n%s\n%v", i+1, b[1], err)
			continue
		}
		if len(res.Rows) == 0 {
			t.Errorf("cookbook query %d returned no rows:\n%s", i+1, b[1])
		}
	}
}

// createStmt is a statement the cookbook runs with clickhouse-client to
// create the tables of a vendor's export.
var createStmt = regexp.MustCompile(`(?s)clickhouse-client --query "(CREATE [^"]+)"`)

// metricaExport creates the Metrica Logs API table exactly as the cookbook
// does and loads it as an export of the generated visitors would: one visit
// per session that carried a Metrica ClientID, on its day.
func metricaExport(t *testing.T, doc string) {
	t.Helper()
	stmts := createStmt.FindAllStringSubmatch(doc, -1)
	if len(stmts) < 2 {
		t.Fatalf("the cookbook creates %d tables for the Metrica export, want the database and metrica.visits", len(stmts))
	}
	ctx := context.Background()
	for _, m := range stmts {
		if err := engine.Exec(ctx, m[1], nil); err != nil {
			t.Fatalf("cookbook statement %q: %v", m[1], err)
		}
	}
	for _, q := range []string{
		"TRUNCATE TABLE metrica.visits",
		`INSERT INTO metrica.visits SELECT cityHash64(session_id), toUInt64(ym_client_id), toDateTime(started_at),
		   if(channel = 'direct', 'direct', 'ad'), landing_page, hits
		 FROM throughline.sessions FINAL WHERE tenant = 'acme' AND ym_client_id != ''`,
	} {
		if err := engine.Exec(ctx, q, nil); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
