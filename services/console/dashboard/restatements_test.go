package dashboard_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/services/console/dashboard"
)

// TestRestatementsRunning: a restatement shows while an account it started
// on has no done mark; other tenants do not see it.
func TestRestatementsRunning(t *testing.T) {
	e := newEnv(t)
	cols := []chstore.Column{
		{Name: "tenant", Type: "LowCardinality(String)"}, {Name: "account", Type: "LowCardinality(String)"},
		{Name: "event_id", Type: "String"}, {Name: "type", Type: "LowCardinality(String)"}, {Name: "name", Type: "String"},
		{Name: "source", Type: "LowCardinality(String)"}, {Name: "ts", Type: "DateTime64(3, 'UTC')"},
		{Name: "received_at", Type: "DateTime64(3, 'UTC')"}, {Name: "props", Type: "Map(String, String)"},
		{Name: "_topic", Type: "LowCardinality(String)"}, {Name: "_partition", Type: "UInt32"}, {Name: "_offset", Type: "UInt64"},
	}
	now := time.Now().UTC()
	off := uint64(1000)
	mark := func(tenant, account, run, state string) {
		t.Helper()
		ins, err := engine.PrepareInsert(context.Background(), e.world.DB+".events", cols, "")
		if err != nil {
			t.Fatal(err)
		}
		off++
		if err := ins.Append(tenant, account, run+":"+state+":"+account, "restate", run, "restate", now, now,
			map[string]string{"state": state, "from": "2026-11-01T00:00:00Z"}, "throughline.raw", uint32(0), off); err != nil {
			t.Fatal(err)
		}
		if err := ins.Send(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	running := func(token string) []dashboard.Restatement {
		t.Helper()
		var v dashboard.Restatements
		if status := e.getJSON("/v1/dashboard/restatements", token, &v); status != http.StatusOK {
			t.Fatalf("GET /v1/dashboard/restatements: %d", status)
		}
		return v.Running
	}
	if r := running(netToken); len(r) != 0 {
		t.Fatalf("before any run: %+v", r)
	}
	mark("net", "msk", "r1", "start")
	mark("net", "spb", "r1", "start")
	mark("net", "msk", "r1", "done")
	r := running(netToken)
	if len(r) != 1 || r[0].ID != "r1" || r[0].From != "2026-11-01T00:00:00Z" || r[0].Accounts != 2 || r[0].AccountsDone != 1 {
		t.Fatalf("running: %+v", r)
	}
	if r := running(otherToken); len(r) != 0 {
		t.Fatalf("another tenant sees %+v", r)
	}
	mark("net", "spb", "r1", "done")
	if r := running(netToken); len(r) != 0 {
		t.Fatalf("after done: %+v", r)
	}
	if status, _ := e.get("/v1/dashboard/restatements", ""); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d", status)
	}
}
