package clock

import (
	"testing"
	"time"
)

var (
	wall0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	leads = TP{"leads", 0}
	calls = TP{"calls", 1}
)

func TestCatchingUpFollowsTheSlowestPartition(t *testing.T) {
	w := New(2*time.Minute, time.Minute)
	w.Assign(leads, 0, 3)
	w.Assign(calls, 10, 12)
	if !w.Now(wall0).IsZero() || w.CaughtUp() {
		t.Fatal("nothing read yet: no time, not caught up")
	}
	w.Observe(leads, 0, wall0.Add(-48*time.Hour), wall0)
	if !w.Now(wall0).IsZero() {
		t.Fatal("calls is behind and unread: no time yet")
	}
	w.Observe(calls, 10, wall0.Add(-50*time.Hour), wall0)
	if got := w.Now(wall0); !got.Equal(wall0.Add(-50 * time.Hour)) {
		t.Fatalf("the slowest partition sets the time: %s", got)
	}
	w.Observe(calls, 11, wall0.Add(-time.Hour), wall0)
	if got := w.Now(wall0); !got.Equal(wall0.Add(-48 * time.Hour)) {
		t.Fatalf("calls caught up, leads is now the slowest: %s", got)
	}
	w.Observe(leads, 1, wall0.Add(-40*time.Hour), wall0)
	w.Observe(leads, 2, time.Time{}, wall0) // a transaction marker ends the partition
	if !w.CaughtUp() || len(w.Behind()) != 0 {
		t.Fatalf("both reached their ends: %v", w.Behind())
	}
	if got := w.Now(wall0); !got.Equal(wall0.Add(-2 * time.Minute)) {
		t.Fatalf("idle inputs: wall clock minus the lag, got %s", got)
	}
}

func TestIdleAdvancesWithTheWallClockAndNeverBack(t *testing.T) {
	w := New(time.Minute, time.Minute)
	w.Assign(leads, 5, 5) // nothing to catch up
	if !w.CaughtUp() {
		t.Fatal("an empty history is caught up")
	}
	for i := range 10 {
		wall := wall0.Add(time.Duration(i) * time.Hour)
		if got := w.Now(wall); !got.Equal(wall.Add(-time.Minute)) {
			t.Fatalf("hour %d: %s", i, got)
		}
	}
	// A burst arrives: the partition is behind until its records are read,
	// and time waits for them rather than going back.
	w.End(leads, 8)
	w.Observe(leads, 5, wall0.Add(8*time.Hour), wall0.Add(10*time.Hour))
	if got := w.Now(wall0.Add(10 * time.Hour)); !got.Equal(wall0.Add(9*time.Hour - time.Minute)) {
		t.Fatalf("time never goes back: %s", got)
	}
	w.Observe(leads, 7, wall0.Add(10*time.Hour), wall0.Add(10*time.Hour))
	if got := w.Now(wall0.Add(11 * time.Hour)); !got.Equal(wall0.Add(11*time.Hour - time.Minute)) {
		t.Fatalf("caught up again: %s", got)
	}
}

func TestEventTimeAheadOfTheWallClockIsCapped(t *testing.T) {
	w := New(0, time.Minute)
	w.Assign(leads, 0, 2)
	w.Observe(leads, 0, wall0.Add(24*time.Hour), wall0) // a sender with a wrong clock
	if got := w.Now(wall0); got.After(wall0.Add(time.Minute)) {
		t.Fatalf("a future timestamp moved the clock to %s", got)
	}
}

func TestReplayingIsHistoryWithNothingFresh(t *testing.T) {
	raw := TP{"raw", 0}
	w := New(time.Minute, time.Minute)
	w.Assign(raw, 0, 0)
	if _, _, ok := w.Replaying(wall0); ok {
		t.Fatal("off until DetectReplay")
	}
	w.DetectReplay(30 * time.Minute)
	if _, _, ok := w.Replaying(wall0); ok {
		t.Fatal("nothing read: not replaying")
	}
	w.Arrived(raw, 20*time.Minute, wall0) // a call reported when it ended
	if _, _, ok := w.Replaying(wall0.Add(30 * time.Second)); ok {
		t.Fatal("an event within the replay age is fresh")
	}
	w.Arrived(raw, 48*time.Hour, wall0.Add(40*time.Second))
	if _, _, ok := w.Replaying(wall0.Add(50 * time.Second)); ok {
		t.Fatal("one old event among fresh ones (within the idle lag) is not a replay")
	}
	w.Arrived(raw, 47*time.Hour, wall0.Add(90*time.Second))
	tp, age, ok := w.Replaying(wall0.Add(91 * time.Second))
	if !ok || tp != raw || age != 47*time.Hour {
		t.Fatalf("only history for a whole idle lag: replaying (%v %s %v)", tp, age, ok)
	}
	if _, _, ok := w.Replaying(wall0.Add(90*time.Second + time.Minute)); ok {
		t.Fatal("the source went quiet: no longer replaying")
	}
	w.Arrived(raw, 47*time.Hour, wall0.Add(3*time.Minute))
	w.Arrived(raw, time.Second, wall0.Add(3*time.Minute+time.Second))
	if _, _, ok := w.Replaying(wall0.Add(3*time.Minute + 2*time.Second)); ok {
		t.Fatal("fresh events flow again: not replaying")
	}
}
