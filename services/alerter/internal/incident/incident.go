// Package incident turns the engine's conditions into incidents: an
// incident opens when its key starts breaching (after the rule's `for`, and
// not within the rule's cooldown after the previous incident of that key
// resolved), stays open — silently — while the key keeps breaching or has
// no verdict, and resolves when the key is clear. Each opening and each
// resolution is one Alert version, which the caller notifies and records.
package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/throughline/throughline/pkg/contract/alert"
	"github.com/throughline/throughline/services/alerter/internal/engine"
)

// Statuses of an incident.
const (
	Firing   = alert.Firing
	Resolved = alert.Resolved
)

// Alert is one version of an incident: version 1 when it fires, 2 when it
// resolves. Its JSON is the value of the alerts topic's records and of the
// generic webhook's "alert" field (docs/alerts.md); the record is defined
// once, in pkg/contract/alert.
type Alert = alert.Record

// keyOf is the key the alert is about.
func keyOf(a *Alert) engine.Key {
	return engine.Key{Tenant: a.Tenant, Account: a.Account, Rule: a.Rule, Subject: a.Subject}
}

// id is stable for a key and firing instant, so a replay that fires the
// same incident again names it the same and the table keeps one row.
func id(k engine.Key, firedAt int64) string {
	h := sha256.New()
	for _, s := range []string{k.Tenant, k.Account, k.Rule, k.Subject} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var b [8]byte
	for i := range b {
		b[i] = byte(firedAt >> (8 * i))
	}
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Manager holds the open incidents, the cooldowns and the recently resolved
// incidents. Apply is called from one goroutine; the read methods from any.
type Manager struct {
	mu       sync.Mutex
	open     map[engine.Key]*Alert
	cooldown map[engine.Key]int64 // no new incident before this (Unix ms)
	pending  map[engine.Key]int64 // breaching since, while waiting for `for`
	recent   []*Alert             // resolved, oldest first
	keep     time.Duration        // how long resolved incidents stay in recent
	now      time.Time
	wall     func() time.Time
}

// maxRecent bounds the resolved incidents kept for the HTTP view.
const maxRecent = 5000

// NewManager returns a manager that keeps resolved incidents for keep.
func NewManager(keep time.Duration, wall func() time.Time) *Manager {
	if wall == nil {
		wall = time.Now
	}
	return &Manager{open: map[engine.Key]*Alert{}, cooldown: map[engine.Key]int64{}, pending: map[engine.Key]int64{}, keep: keep, wall: wall}
}

// Reset forgets every incident, before Restore rebuilds the state.
func (m *Manager) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.open, m.cooldown, m.pending = map[engine.Key]*Alert{}, map[engine.Key]int64{}, map[engine.Key]int64{}
	m.recent, m.now = nil, time.Time{}
}

// Apply takes an evaluation's conditions at event time now and returns the
// alert versions it caused: incidents that opened and ones that resolved.
func (m *Manager) Apply(now time.Time, conds []engine.Condition) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.After(m.now) {
		m.now = now
	}
	nowMS := now.UnixMilli()
	var out []Alert
	for i := range conds {
		c := &conds[i]
		k := c.Key
		cur := m.open[k]
		if c.State == engine.Clear {
			delete(m.pending, k)
			if cur != nil {
				cur.Version, cur.Status, cur.ResolvedAt, cur.RecordedAt = 2, Resolved, nowMS, m.wall().UnixMilli()
				cur.Value = c.Value
				delete(m.open, k)
				m.cooldown[k] = nowMS + c.Rule.Cooldown.D().Milliseconds()
				m.addRecent(cur)
				out = append(out, *cur)
			}
			continue
		}
		if cur != nil {
			// Still breaching: keep the figures current for the view.
			cur.Value, cur.Summary = c.Value, c.Summary
			continue
		}
		if until, ok := m.cooldown[k]; ok && nowMS < until {
			continue
		}
		if f := c.Rule.For.D(); f > 0 {
			since, ok := m.pending[k]
			if !ok {
				m.pending[k] = nowMS
				continue
			}
			if nowMS-since < f.Milliseconds() {
				continue
			}
		}
		delete(m.pending, k)
		delete(m.cooldown, k)
		a := &Alert{ID: id(k, nowMS), Version: 1, Tenant: k.Tenant, Account: k.Account, Rule: k.Rule,
			Kind: string(c.Rule.Kind), Severity: c.Rule.Severity, Subject: k.Subject, Status: Firing,
			Title: c.Title, Summary: c.Summary, Value: c.Value, Threshold: c.Threshold, Labels: c.Labels,
			FiredAt: nowMS, RecordedAt: m.wall().UnixMilli()}
		m.open[k] = a
		out = append(out, *a)
	}
	m.prune(nowMS)
	return out
}

func (m *Manager) addRecent(a *Alert) {
	m.recent = append(m.recent, a)
	if len(m.recent) > maxRecent {
		m.recent = append([]*Alert(nil), m.recent[len(m.recent)-maxRecent:]...)
	}
}

func (m *Manager) prune(nowMS int64) {
	for k, until := range m.cooldown {
		if until <= nowMS {
			delete(m.cooldown, k)
		}
	}
	old := nowMS - m.keep.Milliseconds()
	i := 0
	for i < len(m.recent) && m.recent[i].ResolvedAt < old {
		i++
	}
	if i > 0 {
		m.recent = append([]*Alert(nil), m.recent[i:]...)
	}
}

// Restore sets the state from alert versions read back from the alerts
// topic (in any order): the latest version of each incident wins; open ones
// are open again (and notify nothing until they resolve), resolved ones
// start their key's cooldown.
func (m *Manager) Restore(versions []Alert, cooldown func(*Alert) time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	latest := map[string]*Alert{}
	for i := range versions {
		a := &versions[i]
		if cur := latest[a.ID]; cur == nil || a.Version > cur.Version {
			latest[a.ID] = a
		}
	}
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := latest[ids[i]], latest[ids[j]]
		if a.FiredAt != b.FiredAt {
			return a.FiredAt < b.FiredAt
		}
		return a.ID < b.ID
	})
	// Oldest first: of two open incidents of one key (a crash between
	// versions), the later wins.
	for _, id := range ids {
		a := *latest[id]
		k := keyOf(&a)
		if a.Status == Firing {
			m.open[k] = &a
			continue
		}
		var cd time.Duration
		if cooldown != nil {
			cd = cooldown(&a)
		}
		if until := a.ResolvedAt + cd.Milliseconds(); until > m.cooldown[k] {
			m.cooldown[k] = until
		}
		m.recent = append(m.recent, &a)
	}
	sort.SliceStable(m.recent, func(i, j int) bool { return m.recent[i].ResolvedAt < m.recent[j].ResolvedAt })
}

// ResolveWhere resolves open incidents for which gone reports true (their
// rule was removed or turned off) at event time now.
func (m *Manager) ResolveWhere(now time.Time, gone func(*Alert) bool) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for _, k := range m.sortedOpen() {
		a := m.open[k]
		if !gone(a) {
			continue
		}
		a.Version, a.Status, a.ResolvedAt, a.RecordedAt = 2, Resolved, now.UnixMilli(), m.wall().UnixMilli()
		a.Summary += " (resolved: the rule is no longer configured)"
		delete(m.open, k)
		m.addRecent(a)
		out = append(out, *a)
	}
	return out
}

func (m *Manager) sortedOpen() []engine.Key {
	keys := make([]engine.Key, 0, len(m.open))
	for k := range m.open {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m.open[keys[i]].ID < m.open[keys[j]].ID })
	return keys
}

// Active returns the open incidents (of one tenant, or all with ""), the
// newest first.
func (m *Manager) Active(tenant string) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for _, a := range m.open {
		if tenant == "" || a.Tenant == tenant {
			out = append(out, copyAlert(a))
		}
	}
	sortNewest(out)
	return out
}

// Recent returns the incidents resolved in the kept period, the most
// recently resolved first.
func (m *Manager) Recent(tenant string) []Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Alert
	for i := len(m.recent) - 1; i >= 0; i-- {
		if a := m.recent[i]; tenant == "" || a.Tenant == tenant {
			out = append(out, copyAlert(a))
		}
	}
	return out
}

// Now is the event time of the latest evaluation applied.
func (m *Manager) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func copyAlert(a *Alert) Alert {
	c := *a
	if a.Labels != nil {
		c.Labels = make(map[string]string, len(a.Labels))
		for k, v := range a.Labels {
			c.Labels[k] = v
		}
	}
	return c
}

func sortNewest(as []Alert) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].FiredAt != as[j].FiredAt {
			return as[i].FiredAt > as[j].FiredAt
		}
		return as[i].ID < as[j].ID
	})
}
