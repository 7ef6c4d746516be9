package stitch

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/pii"
)

// activeClients feeds n clients' typical activity into a set: two visits of
// three pages from an ad and directly, a form from one in five, a call from
// one in twenty, a won deal from one in fifty.
func activeClients(s *Set, n int) (events int) {
	return activeClientsWith(s, n, func(i int) string { return fmt.Sprintf("+7916%07d", i) })
}

// activeClientsWith is activeClients with the phones phoneOf gives.
func activeClientsWith(s *Set, n int, phoneOf func(int) string) (events int) {
	add := func(e event.Envelope) {
		s.Add(e)
		events++
	}
	for i := range n {
		c := fmt.Sprintf("client-%07d", i)
		at := int64(i) * 1000
		phone := phoneOf(i)
		for h := range 6 {
			url := fmt.Sprintf("https://shop.example.ru/catalog/item-%d", h)
			if h == 0 {
				url += fmt.Sprintf("?yclid=%d&utm_campaign=spring", i)
			}
			add(hit(fmt.Sprintf("h%d-%d", i, h), c, at+int64(h/3)*day+int64(h%3)*minute, url, ""))
		}
		if i%5 == 0 {
			add(form(fmt.Sprintf("f%d", i), c, at+day+5*minute, phone, ""))
		}
		if i%20 == 0 {
			add(call(fmt.Sprintf("k%d", i), fmt.Sprintf("ct%d", i), at+day+10*minute, phone, 60, []string{c}, ""))
		}
		if i%50 == 0 {
			add(crm(fmt.Sprintf("d%d", i), at+2*day, event.CRM{Entity: "deal", DealID: fmt.Sprint(i), Phones: []string{phone},
				Outcome: "won", Amount: 100000, UpdatedAt: t0 + at + 2*day}))
		}
	}
	s.Flush()
	return events
}

// BenchmarkStatePerClient reports the memory the state takes per active
// client (live heap after GC) and the changelog bytes that hold it.
func BenchmarkStatePerClient(b *testing.B) {
	const n = 20000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := NewSet(DefaultRules())
		activeClients(s, n)
		s.TakeChanges()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if s.Clients() != n {
			b.Fatalf("%d clients kept, want %d", s.Clients(), n)
		}
		var changelog int
		for _, a := range s.Accounts() {
			for _, c := range a.Snapshot() {
				changelog += len(c.Key) + len(c.Value)
			}
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/client")
		b.ReportMetric(float64(changelog)/n, "changelog-B/client")
		runtime.KeepAlive(s)
	}
}

// BenchmarkApply is the domain alone: events/s through the state, no Kafka.
func BenchmarkApply(b *testing.B) {
	s := NewSet(DefaultRules())
	b.ResetTimer()
	n := activeClients(s, b.N/6+1)
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkApplyHashed is BenchmarkApply with the phones as the collector
// publishes them for a tenant with a pii_salt: HMAC hashes, longer keys.
func BenchmarkApplyHashed(b *testing.B) {
	h := pii.New("0123456789abcdef0123456789abcdef")
	phones := make([]string, b.N/6+1)
	for i := range phones {
		phones[i] = h.Phone(fmt.Sprintf("+7916%07d", i))
	}
	s := NewSet(DefaultRules())
	b.ResetTimer()
	n := activeClientsWith(s, len(phones), func(i int) string { return phones[i] })
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReturningVisitors is the shape incremental derivation is for:
// clients who left a form and a call on their first visit and come back
// from ads for weeks — every later page view used to re-derive the person's
// leads and attribution. Sub-benchmarks: incremental, and full derivation
// of every event (the same-run baseline).
func BenchmarkReturningVisitors(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "incremental"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			s := NewSet(DefaultRules())
			s.full = full
			const clients = 500
			b.ResetTimer()
			for i := range b.N {
				c, visit := i%clients, i/clients
				client, phone := fmt.Sprintf("client-%05d", c), fmt.Sprintf("+7916%07d", c)
				at := int64(visit)*180*minute + int64(c)*1000
				switch {
				case visit == 1:
					s.Add(form(fmt.Sprintf("f%d", c), client, at, phone, ""))
				case visit == 2:
					s.Add(call(fmt.Sprintf("k%d", c), fmt.Sprintf("ct%d", c), at, phone, 60, []string{client}, ""))
				default:
					s.Add(hit(fmt.Sprintf("h%d-%d", c, visit), client, at, fmt.Sprintf("https://shop.example.ru/p%d?yclid=%d", visit%4, visit), ""))
				}
				if i%2000 == 1999 {
					s.TakeChanges()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
