package analytics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func shares(r MarkovResult) map[string]MarkovChannel {
	m := map[string]MarkovChannel{}
	for _, c := range r.Channels {
		m[c.Channel] = c
	}
	return m
}

// TestMarkovTextbook is the example worked by hand:
//
//	C1→C2→C3→conv (1), C1→null (1), C2→C3→null (1)
//
// Transitions: start→C1 2/3, start→C2 1/3; C1→C2 1/2, C1→null 1/2;
// C2→C3 1; C3→conv 1/2, C3→null 1/2.
// P = 2/3·1/2·1·1/2 + 1/3·1·1/2 = 1/6 + 1/6 = 1/3.
// Without C1: only start→C2→C3→conv: 1/3·1/2 = 1/6, RE 1 − (1/6)/(1/3) = 0.5.
// Without C2 or C3 nothing reaches conversion: RE 1.
// ΣRE = 2.5: shares 0.2, 0.4, 0.4; one conversion of 100 000 minor.
func TestMarkovTextbook(t *testing.T) {
	r := Markov([]Path{
		{Channels: []string{"C1", "C2", "C3"}, Conversions: 1, RevenueMinor: 100_000},
		{Channels: []string{"C1"}, Nulls: 1},
		{Channels: []string{"C2", "C3"}, Nulls: 1},
	})
	if !near(r.ConversionProbability, 1.0/3) || r.Conversions != 1 || r.RevenueMinor != 100_000 {
		t.Fatalf("P %v, conversions %d, revenue %d", r.ConversionProbability, r.Conversions, r.RevenueMinor)
	}
	want := map[string][2]float64{"C1": {0.5, 0.2}, "C2": {1, 0.4}, "C3": {1, 0.4}}
	got := shares(r)
	if len(got) != 3 {
		t.Fatalf("channels %+v", r.Channels)
	}
	for ch, w := range want {
		g := got[ch]
		if !near(g.RemovalEffect, w[0]) || !near(g.Share, w[1]) || !near(g.Conversions, w[1]) || !near(g.RevenueMinor, w[1]*100_000) {
			t.Errorf("%s: %+v, want removal effect %v, share %v", ch, g, w[0], w[1])
		}
	}
	// Ordered by share, then name.
	if r.Channels[0].Channel != "C2" || r.Channels[1].Channel != "C3" || r.Channels[2].Channel != "C1" {
		t.Errorf("order %+v", r.Channels)
	}
	// A repeated channel is one visit: C1→C1→C2→C2→C3 is the same chain.
	r2 := Markov([]Path{
		{Channels: []string{"C1", "C1", "C2", "C2", "C3"}, Conversions: 1, RevenueMinor: 100_000},
		{Channels: []string{"C1", "C1"}, Nulls: 1},
		{Channels: []string{"C2", "C3", "C3"}, Nulls: 1},
	})
	for ch, w := range want {
		if g := shares(r2)[ch]; !near(g.Share, w[1]) {
			t.Errorf("with repeats %s: share %v, want %v", ch, g.Share, w[1])
		}
	}
}

func TestMarkovEdges(t *testing.T) {
	// No conversion: nothing to attribute, no division by zero.
	if r := Markov([]Path{{Channels: []string{"a"}, Nulls: 5}}); len(r.Channels) != 0 || r.ConversionProbability != 0 {
		t.Errorf("no conversions: %+v", r)
	}
	if r := Markov(nil); len(r.Channels) != 0 {
		t.Errorf("no paths: %+v", r)
	}
	// One channel takes everything.
	r := Markov([]Path{{Channels: []string{"a"}, Conversions: 2, Nulls: 3, RevenueMinor: 500}})
	if len(r.Channels) != 1 || r.Channels[0].Share != 1 || r.Channels[0].RemovalEffect != 1 || !near(r.ConversionProbability, 0.4) ||
		r.Channels[0].Conversions != 2 || r.Channels[0].RevenueMinor != 500 {
		t.Errorf("one channel: %+v", r)
	}
	// A first-order chain forgets where a journey came from: b was never on
	// a converting path, yet b→a leads on to a's conversions, so b gets
	// credit. This is the model, not a bug (higher orders would tell them
	// apart, and need far more data).
	r = Markov([]Path{{Channels: []string{"b", "a"}, Nulls: 1}, {Channels: []string{"a"}, Conversions: 1}})
	if g := shares(r)["b"]; !(g.Share > 0) {
		t.Errorf("b: %+v", g)
	}
}

// TestMarkovProperties checks, over random paths: shares sum to 1 and lie in
// [0, 1]; a channel from which no conversion is reachable gets 0; doubling
// every count changes no share.
func TestMarkovProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	channels := []string{"yandex_direct", "google_ads", "vk_ads", "telegram", "organic", "direct", "email"}
	for iter := 0; iter < 500; iter++ {
		var paths []Path
		for i := rng.IntN(30) + 1; i > 0; i-- {
			p := Path{Nulls: int64(rng.IntN(4))}
			if rng.IntN(3) == 0 {
				p.Conversions = int64(rng.IntN(3) + 1)
				p.RevenueMinor = int64(rng.IntN(100_000))
			}
			for j := rng.IntN(5) + 1; j > 0; j-- {
				p.Channels = append(p.Channels, channels[rng.IntN(len(channels))])
			}
			paths = append(paths, p)
		}
		// dead is only ever seen alone and never converts: nothing follows it
		// but null.
		paths = append(paths, Path{Channels: []string{"dead", "dead"}, Nulls: int64(rng.IntN(5) + 1)})
		r := Markov(paths)
		label := fmt.Sprint("iteration ", iter)
		if r.ConversionProbability <= 0 {
			if r.Conversions > 0 || len(r.Channels) != 0 {
				t.Fatalf("%s: P 0 with %d conversions, %d channels", label, r.Conversions, len(r.Channels))
			}
			continue
		}
		var sum float64
		for _, c := range r.Channels {
			if c.Share < 0 || c.Share > 1 || c.RemovalEffect < 0 || c.RemovalEffect > 1 {
				t.Fatalf("%s: %+v out of [0, 1]", label, c)
			}
			sum += c.Share
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("%s: shares sum to %v", label, sum)
		}
		if d := shares(r)["dead"]; d.Share != 0 || d.RemovalEffect != 0 {
			t.Fatalf("%s: dead channel %+v", label, d)
		}
		doubled := make([]Path, len(paths))
		for i, p := range paths {
			doubled[i] = Path{Channels: p.Channels, Conversions: 2 * p.Conversions, Nulls: 2 * p.Nulls, RevenueMinor: 2 * p.RevenueMinor}
		}
		r2 := Markov(doubled)
		if !near(r2.ConversionProbability, r.ConversionProbability) {
			t.Fatalf("%s: doubled P %v, was %v", label, r2.ConversionProbability, r.ConversionProbability)
		}
		s2 := shares(r2)
		for _, c := range r.Channels {
			if math.Abs(s2[c.Channel].Share-c.Share) > 1e-9 {
				t.Fatalf("%s: %s share %v doubled, was %v", label, c.Channel, s2[c.Channel].Share, c.Share)
			}
		}
	}
}
