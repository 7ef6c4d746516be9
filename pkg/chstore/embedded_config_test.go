package chstore

import (
	"context"
	"path/filepath"
	"testing"
)

// testOverride is the operator's file testStore puts in the overrides dir.
const testOverride = `<clickhouse><mark_cache_size>33554432</mark_cache_size></clickhouse>`

// TestEmbeddedServerSettings: the engine runs with Throughline's bounded
// caches, an operator's file in throughline-config.d wins over them, and
// the data stays in the data dir given.
func TestEmbeddedServerSettings(t *testing.T) {
	s := testStore(t)
	res, err := s.Query(context.Background(), `SELECT name, value FROM system.server_settings
		WHERE name IN ('mark_cache_size', 'index_mark_cache_size', 'primary_index_cache_size',
			'query_condition_cache_size', 'compiled_expression_cache_size', 'max_server_memory_usage_to_ram_ratio')
		ORDER BY name`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{"compiled_expression_cache_size", "16777216"},
		{"index_mark_cache_size", "33554432"},
		{"mark_cache_size", "33554432"}, // the override; the default is 67108864
		{"max_server_memory_usage_to_ram_ratio", "0.5"},
		{"primary_index_cache_size", "33554432"},
		{"query_condition_cache_size", "16777216"},
	}
	if len(res.Rows) != len(want) {
		t.Fatalf("got %v, want %v", res.Rows, want)
	}
	for i, w := range want {
		if got := [2]string{res.Rows[i][0].(string), res.Rows[i][1].(string)}; got != w {
			t.Errorf("setting %d: got %v, want %v", i, got, w)
		}
	}
	res, err = s.Query(context.Background(), "SELECT path FROM system.disks WHERE name = 'default'", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Rows[0][0].(string), s.conn.Path()+"/"; filepath.Clean(got) != filepath.Clean(want) {
		t.Errorf("data path %q, want %q", got, want)
	}
}
