package lead

import (
	"testing"
	"time"
)

const day = int64(24 * time.Hour / time.Millisecond)

func TestFold(t *testing.T) {
	cs := []Contact{{TS: 0, ID: "a"}, {TS: 10 * day, ID: "b"}, {TS: 30 * day, ID: "c"}, {TS: 31 * day, ID: "d"}}
	leads := Fold(cs, 30*24*time.Hour)
	if len(leads) != 2 || len(leads[0].Members) != 3 || leads[1].First.ID != "d" {
		t.Fatalf("got %+v", leads)
	}
}

func TestCallFlags(t *testing.T) {
	calls := []Call{
		{TS: 0, CallID: "1", Caller: "+7916", Answered: true, TalkSec: 30},
		{TS: 5 * day, CallID: "2", Caller: "+7916", Answered: true, TalkSec: 29},
		{TS: 40 * day, CallID: "3", Caller: "+7916", Answered: false, TalkSec: 100},
	}
	if !Target(calls[0], 30*time.Second) || Target(calls[1], 30*time.Second) || Target(calls[2], 30*time.Second) {
		t.Error("target: answered and at least 30 s")
	}
	w := 30 * 24 * time.Hour
	if !Unique(calls, 0, w) || Unique(calls, 1, w) || !Unique(calls, 2, w) {
		t.Error("unique: no call from the caller in the previous 30 days")
	}
}

func TestDealOutOfOrder(t *testing.T) {
	var d Deal
	d.Add(Change{At: 300, EventID: "c", Outcome: Open, Stage: "reopened"})
	d.Add(Change{At: 100, EventID: "a", Outcome: Open, Stage: "new", Amount: 5000})
	d.Add(Change{At: 200, EventID: "b", Outcome: Won, Stage: "paid", Amount: 7000})
	d.Add(Change{At: 200, EventID: "b", Outcome: Won})
	s := d.State()
	if s.Outcome != Open || s.Revenue != 0 || s.Stage != "reopened" || s.Amount != 7000 || s.CreatedAt != 100 || len(d.Changes) != 3 {
		t.Errorf("won then reopened: %+v", s)
	}
	d.Changes = d.Changes[:2]
	s = d.State()
	if s.Outcome != Won || s.Revenue != 7000 || s.WonAt != 200 {
		t.Errorf("won: %+v", s)
	}
}

// TestDealUnits: a deal's units are the latest quantity a change carried;
// a change without one keeps it.
func TestDealUnits(t *testing.T) {
	var d Deal
	d.Add(Change{At: 100, EventID: "a", Outcome: Open, Units: 3})
	d.Add(Change{At: 200, EventID: "b", Outcome: Won, Units: 2})
	d.Add(Change{At: 300, EventID: "c", Stage: "shipped"})
	if s := d.State(); s.Units != 2 || s.Outcome != Won {
		t.Errorf("units %v outcome %s, want 2 won", s.Units, s.Outcome)
	}
}
