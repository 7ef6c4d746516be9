package stitcher

import (
	"context"
	"testing"
	"time"
)

// TestReplayIsDeterministic replays the raw topic twice into fresh topics,
// with the default lateness: both replays hold exactly the same records,
// partition by partition, and exactly what the domain computes.
func TestReplayIsDeterministic(t *testing.T) {
	e := newEnv(t, ".r1", ".r2")
	e.produce(genEvents(4, 3000))
	e.produceBad()
	base := e.config("live")
	base.Lateness = 2 * time.Minute
	for _, sfx := range []string{".r1", ".r2"} {
		cfg := base.ForReplay(sfx)
		s := e.newStitcher(cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		err := s.Run(ctx)
		cancel()
		if err != nil {
			t.Fatalf("replay %s: %v", sfx, err)
		}
		if pending, _, _ := s.sizes(); pending != 0 {
			t.Fatalf("replay %s left %d events pending", sfx, pending)
		}
	}
	r1, r2 := e.got(".r1"), e.got(".r2")
	rename := func(m map[string][][]byte, from string) map[string][][]byte {
		out := map[string][][]byte{}
		for k, v := range m {
			out[trimSuffix(k, from)] = v
		}
		return out
	}
	sameOutput(t, rename(r1, ".r1"), rename(r2, ".r2"))
	sameOutput(t, e.want(rulesOf(base), ""), rename(r1, ".r1"))
}

// trimSuffix removes a topic suffix from a "topic/partition/account" key.
func trimSuffix(k, sfx string) string {
	for i := 0; i+len(sfx) <= len(k); i++ {
		if k[i:i+len(sfx)] == sfx {
			return k[:i] + k[i+len(sfx):]
		}
	}
	return k
}
