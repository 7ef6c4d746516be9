package aggregates

import (
	"strings"
	"testing"
	"time"
)

func TestRefreshConfigValidateNamesTheSetting(t *testing.T) {
	for name, c := range map[string]RefreshConfig{
		"analytics-refresh-interval":   {Interval: -1},
		"analytics-refresh-lookback":   {Lookback: time.Second, Settle: 2 * time.Second},
		"analytics-full-refresh-every": {FullEvery: -time.Hour},
		"analytics-refresh-batch":      {Batch: -1},
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := (RefreshConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}

// TestRefreshPacing: rounds start every Interval while they are quick; a
// slow round (a busy engine, a large account) delays the next by four times
// its own time, so rounds take at most a fifth of the time — never past a
// minute, and never sooner than Interval.
func TestRefreshPacing(t *testing.T) {
	c := RefreshConfig{Interval: time.Second}
	for took, want := range map[time.Duration]time.Duration{
		0:                      time.Second,
		100 * time.Millisecond: time.Second,
		250 * time.Millisecond: time.Second,
		400 * time.Millisecond: 1600 * time.Millisecond,
		3 * time.Second:        12 * time.Second,
		time.Hour:              time.Minute,
	} {
		if got := c.nextRound(took); got != want {
			t.Errorf("after a round of %v: next in %v, want %v", took, got, want)
		}
	}
	if got := (RefreshConfig{Interval: 2 * time.Minute}).nextRound(time.Hour); got != 2*time.Minute {
		t.Errorf("interval 2m, round of 1h: next in %v, want 2m", got)
	}
}
