package chstore

import (
	"context"
	"os"
	"testing"
)

// TestServer runs the store's tests over clickhouse-go against a real
// ClickHouse server, when one is configured:
//
//	THROUGHLINE_TEST_CLICKHOUSE_ADDR=localhost:9000 go test ./chstore -run TestServer
//
// (THROUGHLINE_TEST_CLICKHOUSE_PROTOCOL=http with host:8123 for its HTTP interface).
//
// The server's tables use the same DDL; the test tables set
// non_replicated_deduplication_window like the migrations do.
func TestServer(t *testing.T) {
	addr := os.Getenv("THROUGHLINE_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		t.Skip("THROUGHLINE_TEST_CLICKHOUSE_ADDR is not set: no external ClickHouse server (the same suite runs over HTTP against the embedded engine in TestServerOverHTTP)")
	}
	ctx := context.Background()
	s, err := Open(ctx, Config{
		Mode: "server", Addr: addr, Database: "throughline_test", Protocol: envOr("THROUGHLINE_TEST_CLICKHOUSE_PROTOCOL", "native"),
		User: envOr("THROUGHLINE_TEST_CLICKHOUSE_USER", "default"), Password: os.Getenv("THROUGHLINE_TEST_CLICKHOUSE_PASSWORD"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, s) })
	t.Run("DedupToken", func(t *testing.T) { testDedupToken(t, s) })
	t.Run("MigrateAppliesOnce", func(t *testing.T) { testMigrateAppliesOnce(t, s) })
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
