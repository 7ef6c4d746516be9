package main

import (
	"os"
	"runtime/debug"
)

// allInOneGCPercent is the Go collector's target for the all-in-one: the
// heap may grow to 1.5× what is live between collections instead of Go's
// default 2×. The process holds the stitcher's state, the broker's buffers
// and the engine's memory together; at the demo's rate the extra
// collections cost little CPU, while the default let ~100 MiB of garbage
// stand in the RSS. $GOGC (and $GOMEMLIMIT, which Go reads itself) win:
// https://go.dev/doc/gc-guide
const allInOneGCPercent = 50

// setGCDefaults applies allInOneGCPercent unless $GOGC is set.
func setGCDefaults() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(allInOneGCPercent)
	}
}
