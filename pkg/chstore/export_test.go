package chstore

import "testing"

// Hooks for the external tests (server_http_test.go), which may import
// packages that import this one.

// SharedTestStore is the test process's one embedded engine.
func SharedTestStore(t testing.TB) *Embedded { return testStore(t) }

// ServerSuite is the suite every store passes.
func ServerSuite(t *testing.T, s Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, s) })
	t.Run("DedupToken", func(t *testing.T) { testDedupToken(t, s) })
	t.Run("MigrateAppliesOnce", func(t *testing.T) { testMigrateAppliesOnce(t, s) })
}
