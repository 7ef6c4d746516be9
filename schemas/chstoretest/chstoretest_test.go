package chstoretest

import (
	"context"
	"testing"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/schemas"
)

var engine *chstore.Embedded

func TestMain(m *testing.M) { Main(m, &engine) }

// A test's database holds every migration; each test gets its own.
func TestDatabase(t *testing.T) {
	db := Database(t, engine)
	migrated(t, db)
	if other := Database(t, engine); other == db {
		t.Fatal("two tests got the same database")
	}
}

// A named database is migrated, and dropped after its test so the next
// test may use the name again.
func TestMigrateNamed(t *testing.T) {
	t.Run("use", func(t *testing.T) {
		Migrate(t, engine, "named")
		migrated(t, "named")
	})
	res, err := engine.Query(context.Background(), "SELECT count() FROM system.databases WHERE name = 'named'", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := chstore.AsInt64(res.Rows[0][0]); n != 0 {
		t.Fatal("database named still there after its test")
	}
}

// migrated checks that db has the events table and every migration recorded.
func migrated(t *testing.T, db string) {
	t.Helper()
	res, err := engine.Query(context.Background(), "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = 'events'", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := chstore.AsInt64(res.Rows[0][0]); n != 1 {
		t.Fatalf("%s has %d tables named events, want 1", db, n)
	}
	migs, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	again, err := chstore.Migrate(context.Background(), engine, db, migs)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("migrations %v were not applied", again)
	}
}
