// Package model names the attribution models: the stitcher computes one
// attribution row per lead, model and touch (entity.Attribution.Model), the
// console reports by them (?model=), and their names are part of the
// attribution topic's and table's contract (docs/analytics.md).
package model

// The models, in the order they are reported.
const (
	FirstClick    = "first_click"
	LastClick     = "last_click"
	LastNonDirect = "last_non_direct" // the default, as in Yandex Metrica and Calltouch
	Linear        = "linear"
	TimeDecay     = "time_decay"
	PositionBased = "position_based"
)

// Default is the model of a report that names none.
const Default = LastNonDirect

// Names lists every model computed for every lead, in the order they are
// reported; each call returns a new slice.
func Names() []string {
	return []string{FirstClick, LastClick, LastNonDirect, Linear, TimeDecay, PositionBased}
}
