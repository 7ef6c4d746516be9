package chstoretest

import (
	"context"
	"testing"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/schemas"
)

var engine *chstore.Embedded

func TestMain(m *testing.M) { Main(m, &engine) }

// A test's database holds every migration, and is gone after the test.
func TestDatabase(t *testing.T) {
	migs, err := schemas.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var db string
	t.Run("use", func(t *testing.T) {
		db = Database(t, engine)
		res, err := engine.Query(context.Background(), "SELECT count() FROM system.tables WHERE database = '"+db+"' AND name = 'events'", nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := chstore.AsInt64(res.Rows[0][0]); n != 1 {
			t.Fatalf("%s has %d tables named events, want 1", db, n)
		}
		again, err := chstore.Migrate(context.Background(), engine, db, migs)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != 0 {
			t.Fatalf("migrations %v were not applied", again)
		}
	})
	res, err := engine.Query(context.Background(), "SELECT count() FROM system.databases WHERE name = '"+db+"'", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := chstore.AsInt64(res.Rows[0][0]); n != 0 {
		t.Fatalf("database %s still there after its test", db)
	}
	if Database(t, engine) == db {
		t.Fatal("two tests got the same database")
	}
}
