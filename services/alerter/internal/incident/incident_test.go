package incident

import (
	"testing"
	"time"

	"github.com/throughline/throughline/services/alerter/internal/engine"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

var (
	t0   = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	rule = &rules.Rule{Name: "r", Kind: rules.KindMissedCalls, Severity: "warning",
		Cooldown: rules.Duration(time.Hour), For: rules.Duration(10 * time.Minute)}
	key = engine.Key{Tenant: "t", Account: "a", Rule: "r"}
)

func cond(s engine.State) []engine.Condition {
	return []engine.Condition{{Key: key, Rule: rule, State: s, Title: "x", Summary: "y"}}
}

func TestForDelaysFiring(t *testing.T) {
	m := NewManager(time.Hour, nil)
	if got := m.Apply(t0, cond(engine.Breach)); len(got) != 0 {
		t.Fatalf("fired before `for`: %v", got)
	}
	if got := m.Apply(t0.Add(9*time.Minute), cond(engine.Breach)); len(got) != 0 {
		t.Fatalf("fired before `for`: %v", got)
	}
	got := m.Apply(t0.Add(10*time.Minute), cond(engine.Breach))
	if len(got) != 1 || got[0].Status != Firing || got[0].Version != 1 || got[0].FiredAt != t0.Add(10*time.Minute).UnixMilli() {
		t.Fatalf("after `for`: %+v", got)
	}
	// A clear verdict in between restarts the wait.
	m2 := NewManager(time.Hour, nil)
	m2.Apply(t0, cond(engine.Breach))
	m2.Apply(t0.Add(5*time.Minute), cond(engine.Clear))
	if got := m2.Apply(t0.Add(12*time.Minute), cond(engine.Breach)); len(got) != 0 {
		t.Fatalf("the wait restarts after a clear verdict: %v", got)
	}
}

func TestRestoreKeepsOpenIncidentsAndCooldowns(t *testing.T) {
	open := Alert{ID: "a1", Version: 1, Tenant: "t", Account: "a", Rule: "r", Status: Firing, FiredAt: t0.UnixMilli()}
	other := Alert{ID: "b1", Version: 1, Tenant: "t", Account: "b", Rule: "r", Status: Firing, FiredAt: t0.UnixMilli()}
	otherDone := other
	otherDone.Version, otherDone.Status, otherDone.ResolvedAt = 2, Resolved, t0.Add(time.Hour).UnixMilli()
	m := NewManager(24*time.Hour, nil)
	m.Restore([]Alert{otherDone, open, other}, func(*Alert) time.Duration { return 2 * time.Hour })
	if a := m.Active("t"); len(a) != 1 || a[0].ID != "a1" {
		t.Fatalf("active after restore: %+v", a)
	}
	if r := m.Recent("t"); len(r) != 1 || r[0].ID != "b1" {
		t.Fatalf("recent after restore: %+v", r)
	}
	// The restored incident is not fired again; clearing resolves it.
	now := t0.Add(90 * time.Minute)
	if got := m.Apply(now, cond(engine.Breach)); len(got) != 0 {
		t.Fatalf("a restored open incident fired again: %v", got)
	}
	got := m.Apply(now, cond(engine.Clear))
	if len(got) != 1 || got[0].ID != "a1" || got[0].Status != Resolved || got[0].Version != 2 {
		t.Fatalf("resolving the restored incident: %+v", got)
	}
	// b's cooldown (resolved at t0+1h, 2h) still holds at t0+2h30m.
	bk := []engine.Condition{{Key: engine.Key{Tenant: "t", Account: "b", Rule: "r"}, Rule: &rules.Rule{Name: "r", Cooldown: rules.Duration(time.Hour)}, State: engine.Breach}}
	if got := m.Apply(t0.Add(150*time.Minute), bk); len(got) != 0 {
		t.Fatalf("restored cooldown ignored: %v", got)
	}
	if got := m.Apply(t0.Add(3*time.Hour), bk); len(got) != 1 {
		t.Fatalf("after the restored cooldown: %v", got)
	}
}

func TestResolveWhereRuleIsGone(t *testing.T) {
	m := NewManager(time.Hour, nil)
	m.Restore([]Alert{{ID: "x", Version: 1, Tenant: "t", Rule: "removed", Status: Firing, FiredAt: t0.UnixMilli()}}, nil)
	got := m.ResolveWhere(t0.Add(time.Hour), func(a *Alert) bool { return a.Rule == "removed" })
	if len(got) != 1 || got[0].Status != Resolved || len(m.Active("")) != 0 {
		t.Fatalf("%+v", got)
	}
}

func TestIDsAreStablePerKeyAndInstant(t *testing.T) {
	again := id(engine.Key{Tenant: "t", Account: "a", Rule: "r"}, 1)
	if id(key, 1) != again || id(key, 1) == id(key, 2) || id(key, 1) == id(engine.Key{Tenant: "t", Account: "a", Rule: "r", Subject: "s"}, 1) {
		t.Fatal("ids must depend on key and firing instant only")
	}
}
