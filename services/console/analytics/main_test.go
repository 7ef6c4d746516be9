package analytics

import (
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

// One engine per test process: libchdb allows a single session.
var engine *chstore.Embedded

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "analytics-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	engine, err = chstore.OpenEmbedded(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	before := goleak.IgnoreCurrent()
	code := m.Run()
	engine.Close()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(before); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func refresher(t testing.TB, w *testnet.World, zones Zones) *Refresher {
	t.Helper()
	r, err := NewRefresher(RefreshConfig{Settle: time.Millisecond, Lookback: time.Minute}, RefreshDeps{Store: engine, Database: w.DB, Zones: zones})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// near compares money and weighted counts: equal to 1e-9 relative.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}
