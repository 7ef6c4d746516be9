package stitcher

import (
	"testing"

	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

func rulesOf(cfg Config) stitch.Rules {
	r := stitch.DefaultRules()
	r.Lateness = cfg.Lateness
	return r
}

// TestOneInstance: the output topics hold exactly what the domain computes
// from the same input, partition by partition.
func TestOneInstance(t *testing.T) {
	e := newEnv(t)
	e.produce(genEvents(1, 1500))
	e.produceBad()
	cfg := e.config("a")
	s := e.newStitcher(cfg)
	r := start(s)
	e.waitDone(s, cfg.Group)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	sameOutput(t, e.want(rulesOf(cfg), ""), e.got(""))
}
