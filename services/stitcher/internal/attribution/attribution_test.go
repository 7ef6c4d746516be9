package attribution

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestWeights(t *testing.T) {
	day := int64(24 * time.Hour / time.Millisecond)
	touches := []Touch{{TS: 0}, {TS: 7 * day, Direct: true}, {TS: 14 * day}, {TS: 21 * day, Direct: true}}
	lead := 21 * day
	p := DefaultParams()
	cases := map[string][]float64{
		FirstClick:    {1, 0, 0, 0},
		LastClick:     {0, 0, 0, 1},
		LastNonDirect: {0, 0, 1, 0},
		Linear:        {0.25, 0.25, 0.25, 0.25},
		TimeDecay:     {1.0 / 15, 2.0 / 15, 4.0 / 15, 8.0 / 15},
		PositionBased: {0.4, 0.1, 0.1, 0.4},
	}
	for model, want := range cases {
		got := Weights(model, touches, lead, p)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("%s: got %v, want %v", model, got, want)
				break
			}
		}
	}
	allDirect := []Touch{{TS: 0, Direct: true}, {TS: 1, Direct: true}}
	if w := Weights(LastNonDirect, allDirect, 1, p); w[1] != 1 {
		t.Errorf("last_non_direct of direct-only touches falls back to the last: %v", w)
	}
	if w := Weights(PositionBased, allDirect, 1, p); w[0] != 0.5 || w[1] != 0.5 {
		t.Errorf("position_based of two touches is 50/50: %v", w)
	}
	if w := Weights(PositionBased, allDirect[:1], 1, p); w[0] != 1 {
		t.Errorf("position_based of one touch is 1: %v", w)
	}
}

// TestWeightsSumToOne is the property every model must keep, for any touches.
func TestWeightsSumToOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := DefaultParams()
	for range 2000 {
		n := 1 + rng.IntN(40)
		touches := make([]Touch, n)
		ts := int64(0)
		for i := range touches {
			ts += rng.Int64N(int64(30 * 24 * time.Hour / time.Millisecond))
			touches[i] = Touch{TS: ts, Direct: rng.IntN(3) == 0}
		}
		lead := ts + rng.Int64N(1e9)
		for _, m := range Models {
			var sum float64
			for _, w := range Weights(m, touches, lead, p) {
				if w < 0 {
					t.Fatalf("%s: negative weight", m)
				}
				sum += w
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Fatalf("%s over %d touches: weights sum to %v", m, n, sum)
			}
		}
	}
}
