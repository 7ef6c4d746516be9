package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// callKeep bounds how long calls are kept for missed_calls windows.
const callKeep = 24 * time.Hour

type callInfo struct {
	ts       int64
	answered bool
}

func (a *accountState) call(c *entity.Call) {
	if c.Deleted {
		delete(a.calls, c.CallID)
		return
	}
	a.calls[c.CallID] = callInfo{ts: c.TS, answered: c.Answered}
}

func (a *accountState) forgetCalls(now time.Time) {
	old := now.Add(-callKeep).UnixMilli()
	for id, c := range a.calls {
		if c.ts < old {
			delete(a.calls, id)
		}
	}
}

// missedCalls is the share of unanswered calls in the window; with
// business_hours, only calls made while the branch was open count. Windows
// reach past now: an input read ahead of the clock (it runs a little behind
// the wall clock) counts at once, which is what keeps alerts fast.
func (a *accountState) missedCalls(r *rules.Rule, now time.Time, out []Condition) []Condition {
	from := now.Add(-r.Window.D()).UnixMilli()
	total, missed := 0, 0
	for _, c := range a.calls {
		if c.ts <= from || r.BusinessHours && !a.sched.Open(fromMS(c.ts)) {
			continue
		}
		total++
		if !c.answered {
			missed++
		}
	}
	c := a.condition(r, "")
	c.Title = "calls go unanswered"
	c.Threshold = r.MaxShare * 100
	if total > 0 {
		c.Value = float64(missed) / float64(total) * 100
	}
	if total >= r.MinCount && float64(missed) > r.MaxShare*float64(total) {
		c.State = Breach
		c.Summary = fmt.Sprintf("%d of %d calls in the last %s (%.0f%%) were not answered (limit %.0f%%).",
			missed, total, round(r.Window.D()), c.Value, c.Threshold)
	}
	return append(out, c)
}

// silence reports each watched integration the account has used that has
// sent nothing for the rule's time (business time with business_hours).
func (a *accountState) silence(r *rules.Rule, now time.Time, out []Condition) []Condition {
	for _, want := range r.Sources {
		var last int64
		for src, at := range a.sources {
			if (src == want || rules.Family(src) == want) && at > last {
				last = at
			}
		}
		if last == 0 {
			continue // not an integration of this account
		}
		since := fromMS(last)
		var quiet time.Duration
		if r.BusinessHours {
			quiet = a.sched.OpenBetween(since, now)
		} else {
			quiet = now.Sub(since)
		}
		c := a.condition(r, want)
		c.Labels["source"] = want
		c.Labels["last_seen_at"] = since.Format(time.RFC3339)
		c.Value, c.Threshold = quiet.Hours(), r.After.D().Hours()
		if quiet >= r.After.D() {
			c.State = Breach
			c.Title = integrationName(want) + " sends nothing"
			hours := ""
			if r.BusinessHours {
				hours = " of business hours"
			}
			c.Summary = fmt.Sprintf("Nothing from %s since %s: %s%s without events (limit %s).",
				integrationName(want), since.In(a.sched.Loc).Format("Mon 02 Jan 15:04 MST"), round(quiet), hours, round(r.After.D()))
		}
		out = append(out, c)
	}
	return out
}

func integrationName(source string) string {
	switch source {
	case "site":
		return "the site's tracker"
	case "calls":
		return "call tracking"
	case "crm":
		return "the CRM"
	case "costs":
		return "ad cost uploads"
	}
	return source
}

// minuteCounts are accepted and rejected inputs per minute.
type minuteCounts struct {
	byMinute map[int64]*[2]int // minute start, Unix ms → accepted, rejected
}

func (t *tenantState) countInput(family string, at int64, rejected bool) {
	m := t.dlq[family]
	if m == nil {
		m = &minuteCounts{byMinute: map[int64]*[2]int{}}
		t.dlq[family] = m
	}
	minute := at - at%int64(time.Minute/time.Millisecond)
	n := m.byMinute[minute]
	if n == nil {
		n = &[2]int{}
		m.byMinute[minute] = n
	}
	if rejected {
		n[1]++
	} else {
		n[0]++
	}
}

func (m *minuteCounts) prune(before time.Time) {
	b := before.UnixMilli()
	for k := range m.byMinute {
		if k < b-int64(time.Minute/time.Millisecond) {
			delete(m.byMinute, k)
		}
	}
}

// since sums the minutes from from on (those ahead of the clock included).
func (m *minuteCounts) since(from time.Time) (ok, bad int) {
	f := from.UnixMilli()
	for k, n := range m.byMinute {
		if k >= f {
			ok += n[0]
			bad += n[1]
		}
	}
	return ok, bad
}

// deadLetters is the share of each integration family's input that went to
// the dead-letter topic in the window, over the whole network.
func (t *tenantState) deadLetters(r *rules.Rule, now time.Time, out []Condition) []Condition {
	for _, fam := range sortedKeys(t.dlq) {
		if len(r.Sources) > 0 && !contains(r.Sources, fam) {
			continue
		}
		ok, bad := t.dlq[fam].since(now.Add(-r.Window.D()))
		total := ok + bad
		c := t.condition(r, fam)
		c.Labels["source"] = fam
		c.Threshold = r.MaxShare * 100
		if total > 0 {
			c.Value = float64(bad) / float64(total) * 100
		}
		if total >= r.MinCount && float64(bad) > r.MaxShare*float64(total) {
			c.State = Breach
			c.Title = "input from " + integrationName(fam) + " is being rejected"
			c.Summary = fmt.Sprintf("%d of %d inputs from %s in the last %s (%.0f%%) went to the dead-letter topic (limit %.0f%%); see dead_letters for the reasons.",
				bad, total, integrationName(fam), round(r.Window.D()), c.Value, c.Threshold)
		}
		out = append(out, c)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s || strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
