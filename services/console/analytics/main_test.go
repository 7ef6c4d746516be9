package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/schemas"
	"github.com/throughline/throughline/services/stitcher/entity"
	"github.com/throughline/throughline/services/stitcher/sinks"
)

// One engine per test process: libchdb allows a single session.
var engine *chstore.Embedded

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "analytics-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	engine, err = chstore.OpenEmbedded(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	before := goleak.IgnoreCurrent()
	code := m.Run()
	engine.Close()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(before); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var dbSeq atomic.Int64

// world is one test's database with the migrations applied, and helpers
// that write entities the way the loader does: through the stitcher's row
// mappings, with Kafka coordinates.
type world struct {
	t       testing.TB
	db      string
	offset  int64
	version map[string]uint64 // per tenant/account
}

func newWorld(t testing.TB) *world {
	t.Helper()
	db := fmt.Sprintf("analytics_%d_%d", os.Getpid(), dbSeq.Add(1))
	migs, err := chstore.LoadMigrations(schemas.ClickHouse, schemas.ClickHouseDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chstore.Migrate(context.Background(), engine, db, migs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+"", nil) })
	return &world{t: t, db: db, version: map[string]uint64{}}
}

// next is the next version of an account's entities.
func (w *world) next(m *entity.Meta) {
	k := m.Tenant + "/" + m.Account
	w.version[k]++
	m.Version = w.version[k]
}

// put writes entities, each with the next version of its account, one
// insert per table.
func (w *world) put(entities ...any) {
	w.t.Helper()
	type batch struct {
		table string
		cols  []chstore.Column
		rows  [][]any
	}
	var order []string
	batches := map[string]*batch{}
	for _, e := range entities {
		var tab sinks.Table
		switch x := e.(type) {
		case *entity.Session:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "sessions")
		case *entity.Call:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "calls")
		case *entity.Lead:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "leads")
		case *entity.Deal:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "deals")
		case *entity.Attribution:
			w.next(&x.Meta)
			tab = sinkFor(w.t, "attribution")
		default:
			w.t.Fatalf("put: %T is not an entity", e)
		}
		b, err := json.Marshal(e)
		if err != nil {
			w.t.Fatal(err)
		}
		row, err := tab.Row(b)
		if err != nil {
			w.t.Fatal(err)
		}
		w.offset++
		row = append(row, tab.Topic, uint32(0), uint64(w.offset))
		bt := batches[tab.Table]
		if bt == nil {
			bt = &batch{table: tab.Table, cols: append(append([]chstore.Column{}, tab.Columns...),
				chstore.Column{Name: "_topic", Type: "LowCardinality(String)"},
				chstore.Column{Name: "_partition", Type: "UInt32"},
				chstore.Column{Name: "_offset", Type: "UInt64"})}
			batches[tab.Table] = bt
			order = append(order, tab.Table)
		}
		bt.rows = append(bt.rows, row)
	}
	for _, name := range order {
		bt := batches[name]
		ins, err := engine.PrepareInsert(context.Background(), w.db+"."+bt.table, bt.cols, "")
		if err != nil {
			w.t.Fatal(err)
		}
		for _, r := range bt.rows {
			if err := ins.Append(r...); err != nil {
				w.t.Fatal(err)
			}
		}
		if err := ins.Send(context.Background()); err != nil {
			w.t.Fatal(err)
		}
	}
}

func sinkFor(t testing.TB, table string) sinks.Table {
	for _, s := range sinks.All() {
		if s.Table == table {
			return s
		}
	}
	t.Fatalf("no sink for %s", table)
	return sinks.Table{}
}

// cost is one uploaded cost row.
type cost struct {
	account, date, channel, source, medium, campaign, campaignID string
	minor, clicks, impressions                                   int64
}

var costColumns = []chstore.Column{
	{Name: "tenant", Type: "LowCardinality(String)"}, {Name: "account", Type: "LowCardinality(String)"},
	{Name: "date", Type: "Date"}, {Name: "channel", Type: "LowCardinality(String)"},
	{Name: "source", Type: "String"}, {Name: "medium", Type: "String"}, {Name: "campaign", Type: "String"},
	{Name: "campaign_id", Type: "String"}, {Name: "amount_minor", Type: "Int64"},
	{Name: "currency", Type: "LowCardinality(String)"}, {Name: "clicks", Type: "Int64"}, {Name: "impressions", Type: "Int64"},
	{Name: "central", Type: "Bool"}, {Name: "import_id", Type: "String"}, {Name: "row_id", Type: "String"},
	{Name: "kind", Type: "LowCardinality(String)"}, {Name: "import_rows", Type: "UInt32"},
	{Name: "upload", Type: "LowCardinality(String)"}, {Name: "imported_at", Type: "DateTime64(3, 'UTC')"},
	{Name: "_topic", Type: "LowCardinality(String)"}, {Name: "_partition", Type: "UInt32"}, {Name: "_offset", Type: "UInt64"},
}

// costs writes one complete import of the tenant's rows (account "*" is
// central), with its commit rows, as the collector and loader do.
func (w *world) costs(tenant, importID string, at time.Time, rows ...cost) {
	w.t.Helper()
	ins, err := engine.PrepareInsert(context.Background(), w.db+".costs", costColumns, "")
	if err != nil {
		w.t.Fatal(err)
	}
	per := map[string]uint32{}
	var accounts []string
	for i, c := range rows {
		d, err := time.Parse(time.DateOnly, c.date)
		if err != nil {
			w.t.Fatal(err)
		}
		if per[c.account] == 0 {
			accounts = append(accounts, c.account)
		}
		per[c.account]++
		w.offset++
		if err := ins.Append(tenant, c.account, d, c.channel, c.source, c.medium, c.campaign, c.campaignID, c.minor, "RUB",
			c.clicks, c.impressions, c.account == "*", importID, fmt.Sprintf("%s/%d", importID, i), "row", uint32(0), "costs:generic", at,
			"throughline.costs.v1", uint32(0), uint64(w.offset)); err != nil {
			w.t.Fatal(err)
		}
	}
	for _, a := range accounts {
		w.offset++
		if err := ins.Append(tenant, a, time.Time{}, "", "", "", "", "", int64(0), "RUB", int64(0), int64(0), a == "*",
			importID, importID+"/commit/"+a, "commit", per[a], "costs:generic", at,
			"throughline.costs.v1", uint32(0), uint64(w.offset)); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := ins.Send(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) refresher(zones Zones) *Refresher {
	w.t.Helper()
	r, err := NewRefresher(RefreshConfig{Settle: time.Millisecond, Lookback: time.Minute}, RefreshDeps{Store: engine, Database: w.db, Zones: zones})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) query(q string, args ...any) [][]any {
	w.t.Helper()
	res, err := engine.Query(context.Background(), fmt.Sprintf(q, args...), nil)
	if err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
	return res.Rows
}

// at parses an RFC 3339 time into Unix ms.
func at(t testing.TB, s string) int64 {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UnixMilli()
}

func date(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// near compares money and weighted counts: equal to 1e-9 relative.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}
