// Package attribution splits the credit of one lead over its touchpoints under
// every model Throughline computes. Weights of one lead under one model sum to
// 1; the lead's revenue is split by the same weights.
package attribution

import (
	"math"
	"time"

	"github.com/throughline/throughline/pkg/contract/model"
)

// Models, in the order they are reported (named in pkg/contract/model).
const (
	FirstClick    = model.FirstClick
	LastClick     = model.LastClick
	LastNonDirect = model.LastNonDirect // the default, as in Yandex Metrica and Calltouch
	Linear        = model.Linear
	TimeDecay     = model.TimeDecay
	PositionBased = model.PositionBased
)

// Models lists every model computed for every lead.
var Models = model.Names()

// Touch is what a model needs to know about one touchpoint.
type Touch struct {
	TS     int64 // Unix ms
	Direct bool
}

// Params are the tunable parts of the models.
type Params struct {
	HalfLife time.Duration // time_decay: weight halves per this much before the lead
	// PositionFirst and PositionLast are position_based's shares of the first
	// and last touch (0.4 each); the middle touches share the rest.
	PositionFirst, PositionLast float64
}

// DefaultParams are DESIGN.md's defaults.
func DefaultParams() Params {
	return Params{HalfLife: 7 * 24 * time.Hour, PositionFirst: 0.4, PositionLast: 0.4}
}

// Weights returns one weight per touch (touches in time order) under model
// for a lead at leadTS. With no touches it returns nil.
func Weights(model string, touches []Touch, leadTS int64, p Params) []float64 {
	n := len(touches)
	if n == 0 {
		return nil
	}
	w := make([]float64, n)
	switch model {
	case FirstClick:
		w[0] = 1
	case LastClick:
		w[n-1] = 1
	case LastNonDirect:
		last := n - 1
		for i := n - 1; i >= 0; i-- {
			if !touches[i].Direct {
				last = i
				break
			}
		}
		w[last] = 1
	case Linear:
		for i := range w {
			w[i] = 1 / float64(n)
		}
	case TimeDecay:
		half := float64(p.HalfLife.Milliseconds())
		var sum float64
		for i, t := range touches {
			age := math.Max(0, float64(leadTS-t.TS))
			w[i] = math.Exp2(-age / half)
			sum += w[i]
		}
		for i := range w {
			w[i] /= sum
		}
	case PositionBased:
		switch n {
		case 1:
			w[0] = 1
		case 2:
			w[0], w[1] = 0.5, 0.5
		default:
			w[0], w[n-1] = p.PositionFirst, p.PositionLast
			mid := (1 - p.PositionFirst - p.PositionLast) / float64(n-2)
			for i := 1; i < n-1; i++ {
				w[i] = mid
			}
		}
	default:
		panic("attribution: unknown model " + model)
	}
	return w
}
