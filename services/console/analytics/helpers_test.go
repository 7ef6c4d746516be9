package analytics

import (
	"math"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

func refresher(t testing.TB, w *testnet.World, zones Zones) *aggregates.Refresher {
	t.Helper()
	r, err := aggregates.NewRefresher(aggregates.RefreshConfig{Settle: time.Millisecond, Lookback: time.Minute}, aggregates.RefreshDeps{Store: engine, Database: w.DB, Zones: zones})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// near compares money and weighted counts: equal to 1e-9 relative.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}
