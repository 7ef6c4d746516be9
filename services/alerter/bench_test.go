package alerter

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// BenchmarkAlertLatency measures the time from producing the record that
// breaks a rule (a deal won without an amount, for a new account each
// iteration) to its notification arriving at a local webhook receiver:
// Kafka (kfake over loopback), decoding, evaluation of the touched account,
// the incident, and the delivery queue. Reports p50-ms and p99-ms.
func BenchmarkAlertLatency(b *testing.B) {
	e := newEnv(b, "targets:\n  - {name: ops, type: webhook, url: RECEIVER}\n")
	a := e.start(testConfig())
	a.waitLive(b)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		account := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		e.wonWithoutAmount(account, "deal-"+account, start)
		for {
			p := e.rc.next(b)
			if p.Alert.Account == account {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
