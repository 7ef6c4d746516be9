package stitch

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
)

// BenchmarkRestatement is the stitcher's own work of a restatement, per hit
// (Kafka aside): 20 branches × 100 visitors × 10 hits stitched under rules
// that knew no search engine or social network, then every hit restated
// under the defaults — most change their source, re-cutting sessions and
// re-deriving their persons. It reports ns and CPU ns per restated hit and
// the entity records emitted per hit.
func BenchmarkRestatement(b *testing.B) {
	refs := []string{"https://www.google.com/", "https://yandex.ru/", "https://away.vk.com/", "", "https://zubnoy-forum.ru/", "https://e.mail.ru/"}
	var evs []event.Envelope
	for a := range 20 {
		for c := range 100 {
			for h := range 10 {
				e := hit(fmt.Sprintf("h%d-%d-%d", a, c, h), fmt.Sprintf("c%d", c), int64(h)*day/2+int64(c)*minute,
					"https://shop.example.ru/", refs[(c+h)%len(refs)])
				e.Account = fmt.Sprintf("b%02d", a)
				evs = append(evs, e)
			}
		}
	}
	oldRules := DefaultRules()
	var err error
	if oldRules.Catalog, err = channel.NewCatalog(map[string]channel.Rules{"acme": {Replace: true}}); err != nil {
		b.Fatal(err)
	}
	before := NewSet(oldRules)
	for _, e := range evs {
		before.Add(e)
	}
	before.Flush()
	var state []StateChange
	for _, a := range before.Accounts() {
		state = append(state, a.Snapshot()...)
	}
	restated := restatements(evs)
	var took, cpu time.Duration
	records := 0
	for b.Loop() {
		b.StopTimer()
		after := NewSet(DefaultRules())
		for _, c := range state {
			if err := after.Restore(c.Key, c.Value); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		for _, e := range restated {
			records += len(after.Add(e))
		}
		took, cpu = took+time.Since(t0), cpu+cpuTime()-c0
	}
	hits := float64(b.N * len(restated))
	b.ReportMetric(float64(took.Nanoseconds())/hits, "ns/hit")
	b.ReportMetric(float64(cpu.Nanoseconds())/hits, "cpu-ns/hit")
	b.ReportMetric(float64(records)/hits, "records/hit")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
