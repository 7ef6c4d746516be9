package demo

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Live after a month of history, today's spend goes on at the history's
// pace, whatever the live rate: re-uploads five minutes apart restate the
// day with what a usual day spends in those five minutes, and today's
// spend stays what a usual day had spent by then — no "40× its usual"
// from the demo's own numbers (issue 15).
func TestLiveSpendContinuesTheHistory(t *testing.T) {
	s, err := newSim(5, Tenants(1, 4), "spend")
	if err != nil {
		t.Fatal(err)
	}
	s.w.store = newCRMStore()
	run := func(acts []*action) {
		for _, a := range acts {
			for _, h := range a.make(a.due) {
				if h.before != nil {
					h.before()
				}
			}
		}
	}
	// Ten days of history at ~2000 hits a day, busier by day than by night
	// as the backfill sends it, ending at 14:00 Moscow time.
	end := time.Date(2026, 3, 11, 14, 0, 0, 0, msk)
	for now := end.AddDate(0, 0, -10); now.Before(end); {
		s.next(now)
		run(s.w.due(now))
		now = now.Add(time.Duration(float64(43*time.Second) / diurnal[now.In(msk).Hour()]))
	}
	if s.w.usual.days != 9 { // the first day was partial
		t.Fatalf("history learned %d whole days, want 9", s.w.usual.days)
	}
	if s.w.book[dayOf(end).AddDate(0, 0, -1)] != nil {
		t.Fatal("yesterday's clicks were kept after its final upload")
	}
	var total int64
	for k, n := range s.w.usual.clicks {
		if k.channel == "yandex_direct" {
			total += n * story["yandex_direct"].cpc
		}
	}
	usual := float64(total) / float64(s.w.usual.days) // kopecks, noise aside (±15%)

	atLive := directSpend(t, s.w.goLive(end, 10*time.Minute))
	// Live at 50 hits a second for five minutes: 15,000 visitors' hits,
	// more than the history's whole week.
	now := end
	for ; now.Before(end.Add(5 * time.Minute)); now = now.Add(20 * time.Millisecond) {
		s.next(now)
		run(s.w.due(now))
	}
	later := directSpend(t, s.w.costUploads(s.w.day, false, now))

	byNow := usual * dayShare(s.w.day, now)
	if f := float64(later) / byNow; f < 0.75 || f > 1.3 {
		t.Errorf("today's Direct spend at %s is %d kopecks, %.2f× what a usual day spends by then (%.0f)",
			now.In(msk).Format("15:04"), later, f, byNow)
	}
	step := usual * dayShare(end, now)
	if d := float64(later - atLive); d < 0 || d > 2*step+float64(4*story["yandex_direct"].cpc) {
		t.Errorf("five live minutes added %.0f kopecks of Direct spend, a usual day spends %.0f in them", d, step)
	}
	// At midnight the day closes with a usual day's spend.
	midnight := s.w.day.AddDate(0, 0, 1)
	closed := directSpend(t, s.w.costUploads(s.w.day, true, midnight))
	if f := float64(closed) / usual; f < 0.75 || f > 1.3 {
		t.Errorf("the live day closed with %d kopecks of Direct spend, %.2f× a usual day (%.0f)", closed, f, usual)
	}
}

// directSpend sums the Yandex Direct TSV uploads among reqs, in kopecks.
func directSpend(t *testing.T, reqs []*hookReq) int64 {
	t.Helper()
	var sum int64
	for _, h := range reqs {
		if !strings.Contains(h.target, "format=yandex") {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(h.body))
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 6 || f[0] == "Date" {
				continue
			}
			micros, err := strconv.ParseInt(f[5], 10, 64)
			if err != nil {
				t.Fatalf("cost %q: %v", f[5], err)
			}
			sum += micros / 10_000
		}
	}
	return sum
}
