// Package tablestest checks the stitcher's output against the entity tables
// mapping (pkg/contract/tables) in the real engine: every version the
// stitcher emits, superseding deletions included, loads and reads back as the
// latest entities. It holds only tests.
package tablestest
