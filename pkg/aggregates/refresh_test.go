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
