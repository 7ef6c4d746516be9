package chstore

import (
	"fmt"
	"os"
	"path/filepath"
)

// The embedded engine's server settings. ClickHouse's defaults are sized
// for a server that has the machine to itself (a 5 GiB mark cache, 5 GiB
// for primary indexes and their marks, 100 MiB for the query condition
// cache, 128 MiB of compiled expressions, 90% of RAM for queries); in the
// all-in-one the engine shares a process, often a small machine, with the
// Go pipeline and its broker. The caches are bounded to sizes that hold
// Throughline's tables' marks and indexes many times over (a month of a
// 20-branch network's events has a few MiB of marks). Server settings:
// https://clickhouse.com/docs/operations/server-configuration-parameters/settings
//
// The file is rewritten at every start. An operator overrides any setting
// with a file of their own in EmbeddedConfigOverrides under the data dir,
// which ClickHouse merges over it (files in "<config name>.d/", in
// alphabetical order: https://clickhouse.com/docs/operations/configuration-files).
const embeddedConfig = `<!-- Written by Throughline at every start: put overrides in throughline-config.d/*.xml (docs/operations.md). -->
<clickhouse>
    <mark_cache_size>67108864</mark_cache_size>
    <index_mark_cache_size>33554432</index_mark_cache_size>
    <primary_index_cache_size>33554432</primary_index_cache_size>
    <uncompressed_cache_size>0</uncompressed_cache_size>
    <query_condition_cache_size>16777216</query_condition_cache_size>
    <compiled_expression_cache_size>16777216</compiled_expression_cache_size>
    <max_server_memory_usage_to_ram_ratio>0.5</max_server_memory_usage_to_ram_ratio>
</clickhouse>
`

// EmbeddedConfigFile is the engine's config file, in its data dir.
const EmbeddedConfigFile = "throughline-config.xml"

// EmbeddedConfigOverrides is the directory, in the engine's data dir, whose
// XML or YAML files override EmbeddedConfigFile's settings.
const EmbeddedConfigOverrides = "throughline-config.d"

// writeEmbeddedConfig writes the engine's config file into dataDir and
// returns the engine's arguments that load it.
func writeEmbeddedConfig(dataDir string) ([]string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating clickhouse data dir: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dataDir, EmbeddedConfigFile))
	if err != nil {
		return nil, fmt.Errorf("resolving clickhouse config path: %w", err)
	}
	if err := os.WriteFile(path, []byte(embeddedConfig), 0o600); err != nil {
		return nil, fmt.Errorf("writing clickhouse config: %w", err)
	}
	return []string{"--config-file=" + path}, nil
}
