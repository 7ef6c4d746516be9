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
