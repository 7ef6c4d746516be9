package channel

import (
	"syscall"
	"testing"
	"time"
)

// benchInputs is a mix of hits as a network's tracker sends them: every hit
// carries its visit's attribution, so most repeat a landing's source.
func benchInputs() []Input {
	const page = "https://msk.example-clinic.ru/services/implant?id=12"
	mix := []struct {
		n  int
		in Input
	}{
		{30, Input{URL: page}},
		{5, Input{URL: page, Referrer: "https://spb.example-clinic.ru/"}},
		{10, Input{URL: page, Referrer: "https://yandex.ru/"}},
		{10, Input{URL: page, Referrer: "https://www.google.com/"}},
		{10, Input{URL: page, UTMSource: "yandex", UTMMedium: "cpc", UTMCampaign: "implant-msk", ClickIDs: map[string]string{"yclid": "123456789"}}},
		{5, Input{URL: page, UTMSource: "google", UTMMedium: "cpc", ClickIDs: map[string]string{"gclid": "Cj0KCQ"}}},
		{8, Input{URL: page, Referrer: "https://away.vk.com/"}},
		{8, Input{URL: page, Referrer: "https://zubnoy-forum.ru/topic/42"}},
		{4, Input{URL: page, UTMMedium: "email", UTMCampaign: "march"}},
		{4, Input{URL: page, Referrer: "https://e.mail.ru/"}},
		{3, Input{URL: page, Referrer: "https://l.facebook.com/", ClickIDs: map[string]string{"fbclid": "IwAR"}}},
		{3, Input{URL: page, Referrer: "https://search.brave.com/"}},
	}
	var out []Input
	for _, m := range mix {
		for i := 0; i < m.n; i++ {
			out = append(out, m.in)
		}
	}
	return out
}

// BenchmarkClassify is the cost of classifying one hit with today's default
// rules (about a thousand hosts); BenchmarkClassifyLegacy is the baseline,
// the hand-typed rules before them, on the same inputs in the same run.
func BenchmarkClassify(b *testing.B) {
	c := mustCompile(b, Rules{})
	benchClassify(b, c.Classify)
}

func BenchmarkClassifyLegacy(b *testing.B) {
	c, err := legacyCompile(Rules{})
	if err != nil {
		b.Fatal(err)
	}
	benchClassify(b, c.Classify)
}

// benchClassify also reports the process's CPU time per hit (cpu-ns/op),
// which a busy shared machine inflates less than wall time.
func benchClassify(b *testing.B, classify func(Input) Source) {
	ins := benchInputs()
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		classify(ins[i%len(ins)])
		i++
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(i), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
