// Package chstoretest is ClickHouse for the services' tests: the process's
// one embedded engine (libchdb allows a single session per process) in a
// temporary directory, and databases on it with the project's migrations
// applied — so no service's tests bootstrap the engine themselves.
//
// It lives in the schemas module, beside the migrations it applies: pkg,
// where chstore is, must not depend on schemas (which depends on pkg).
//
//	var engine *chstore.Embedded
//
//	func TestMain(m *testing.M) { chstoretest.Main(m, &engine) }
//
//	func TestX(t *testing.T) {
//		db := chstoretest.Database(t, engine)
//		...
//	}
package chstoretest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/schemas"
)

// Main is a test package's TestMain: it opens the embedded engine in a
// temporary directory, stores it in *engine, runs the tests, closes and
// removes the engine, and fails the run when the tests leave goroutines
// behind.
func Main(m *testing.M, engine **chstore.Embedded) {
	dir, err := os.MkdirTemp("", "throughline-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e, err := chstore.OpenEmbedded(dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "opening the embedded engine:", err)
		os.Exit(1)
	}
	*engine = e
	before := goleak.IgnoreCurrent()
	code := m.Run()
	e.Close()
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

// Database creates a database of its own for the test on store and applies
// the migrations. It is not dropped: its name is never used again, the
// engine's directory goes at the end of the run, and a drop would cost each
// test about as much as the migrations.
func Database(tb testing.TB, store chstore.Store) string {
	tb.Helper()
	db := fmt.Sprintf("test_%d", dbSeq.Add(1))
	migrate(tb, store, db)
	return db
}

// Migrate applies the migrations to database db of store (created if
// needed) and drops it when the test ends, so the next test may use the
// name again: for tests that name their database, e.g. "throughline" for
// queries written as users write them.
func Migrate(tb testing.TB, store chstore.Store, db string) {
	tb.Helper()
	migrate(tb, store, db)
	tb.Cleanup(func() {
		if err := store.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db, nil); err != nil {
			tb.Errorf("dropping test database %s: %v", db, err)
		}
	})
}

func migrate(tb testing.TB, store chstore.Store, db string) {
	tb.Helper()
	if err := schemas.Migrate(context.Background(), store, db); err != nil {
		tb.Fatal(err)
	}
}
