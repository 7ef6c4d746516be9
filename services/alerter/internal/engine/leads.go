package engine

import (
	"fmt"
	"math"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

type leadInfo struct {
	ts      int64
	touches int
}

// lead counts a lead the first time its id is seen; later versions only
// update what rules read from its latest state (its touches).
func (a *accountState) lead(l *entity.Lead) {
	li, seen := a.leads[l.LeadID]
	if l.Deleted {
		// Folded into another lead: no longer a lead of its own.
		if seen {
			delete(a.leads, l.LeadID)
		}
		return
	}
	if seen {
		li.touches = l.Touches
		return
	}
	a.leads[l.LeadID] = &leadInfo{ts: l.TS, touches: l.Touches}
	t := a.t
	ch := l.Channel
	a.seriesOf(ch).add(l.TS, a.sched.Loc)
	a.seriesOf("").add(l.TS, a.sched.Loc)
	t.seriesOf(ch).add(l.TS, t.sched.Loc)
	t.seriesOf("").add(l.TS, t.sched.Loc)
	t.costs.lead(fromMS(l.TS).In(t.sched.Loc), a.id, ch)
}

func (a *accountState) seriesOf(ch string) *series {
	s := a.series[ch]
	if s == nil {
		s = &series{pending: map[int64]int{}}
		a.series[ch] = s
	}
	return s
}

func (t *tenantState) seriesOf(ch string) *series {
	s := t.series[ch]
	if s == nil {
		s = &series{pending: map[int64]int{}}
		t.series[ch] = s
	}
	return s
}

// forget drops what no rule reaches any more.
func (a *accountState) forget(now time.Time) {
	old := now.Add(-leadKeep).UnixMilli()
	for id, l := range a.leads {
		if l.ts < old {
			delete(a.leads, id)
		}
	}
	a.forgetCalls(now)
}

// ewma is an exponentially weighted moving average and its sample count.
type ewma struct {
	v float64
	n int
}

func (e *ewma) add(x, alpha float64) {
	if e.n == 0 {
		e.v = x
	} else {
		e.v = alpha*x + (1-alpha)*e.v
	}
	e.n++
}

// Baseline weights: an hour-of-week slot learns once a week, an hour of a
// workday (or weekend day) once a day.
const (
	weekAlpha = 0.3
	dayAlpha  = 0.15
	// foldDelay is how long after an hour ends its count goes into the
	// baseline: longer than any no_leads window, so the silence being
	// judged is never part of the baseline it is judged against (and late
	// leads still count).
	foldDelay = 24 * time.Hour
)

// series is the lead flow of one channel (or all channels) of an account or
// network, with its baseline: the expected leads per hour for every hour of
// the week, learned from its own history in the local time zone.
type series struct {
	first   int64 // first lead, Unix ms
	last    int64 // latest lead
	folded  int64 // hours starting before this are in the baseline; 0 = none yet
	pending map[int64]int
	week    [7 * 24]ewma
	day     [2][24]ewma // workdays, weekend days
}

// hourStart is the start of the local hour holding ms.
func hourStart(ms int64, loc *time.Location) int64 {
	t := fromMS(ms).In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc).UnixMilli()
}

func (s *series) add(ts int64, loc *time.Location) {
	if ts > s.last {
		s.last = ts
	}
	if s.first == 0 || ts < s.first && s.folded == 0 {
		s.first = ts
	}
	h := hourStart(ts, loc)
	if s.folded == 0 || h >= s.folded {
		s.pending[h]++
	}
}

// fold moves every hour that ended foldDelay before now into the baseline,
// hours without leads included: they are what a quiet hour looks like.
func (s *series) fold(now time.Time, loc *time.Location) {
	if s.first == 0 {
		return
	}
	if s.folded == 0 {
		s.folded = hourStart(s.first, loc)
	}
	limit := now.Add(-foldDelay).UnixMilli()
	hour := int64(time.Hour / time.Millisecond)
	for s.folded+hour <= limit {
		n := float64(s.pending[s.folded])
		delete(s.pending, s.folded)
		lt := fromMS(s.folded).In(loc)
		s.week[slot(lt)].add(n, weekAlpha)
		s.day[weekend(lt)][lt.Hour()].add(n, dayAlpha)
		s.folded += hour
	}
}

func slot(lt time.Time) int { return int(lt.Weekday())*24 + lt.Hour() }

func weekend(lt time.Time) int {
	if lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday {
		return 1
	}
	return 0
}

// rate is the expected leads per hour in the local hour holding t: the
// hour-of-week average once two weeks are learned, before that the average
// of that hour over workdays (or weekend days); -1 when nothing is known.
func (s *series) rate(t time.Time, loc *time.Location) float64 {
	lt := t.In(loc)
	if w := s.week[slot(lt)]; w.n >= 2 {
		return w.v
	}
	if d := s.day[weekend(lt)][lt.Hour()]; d.n >= 1 {
		return d.v
	}
	return -1
}

// expected is the expected number of leads in [from, to), or -1 when part
// of it has no baseline.
func (s *series) expected(from, to time.Time, loc *time.Location) float64 {
	var sum float64
	for t := from; t.Before(to); {
		hs := fromMS(hourStart(t.UnixMilli(), loc))
		end := hs.Add(time.Hour)
		if end.After(to) {
			end = to
		}
		r := s.rate(t, loc)
		if r < 0 {
			return -1
		}
		sum += r * end.Sub(t).Hours()
		t = end
	}
	return sum
}

// noLeadsVerdict is the no_leads rule on one series: clear when a lead came
// in the window; breaching when none did and, under the baseline, none was
// unlikely (P(0) = e^-λ below the rule's probability) or the silence passed
// max_silence; otherwise (a quiet spell that is normal, or no baseline yet)
// no verdict.
func noLeadsVerdict(r *rules.Rule, s *series, now time.Time, loc *time.Location, c *Condition) bool {
	if s == nil || s.first == 0 {
		return false
	}
	silent := now.Sub(fromMS(s.last))
	c.Labels["last_lead_at"] = fromMS(s.last).Format(time.RFC3339)
	if silent < r.Window.D() {
		c.State = Clear
		c.Value = 0
		return true
	}
	what := "any channel"
	if c.Subject != "" {
		what = c.Subject
	}
	c.Title = "no leads from " + what
	if r.MaxSilence > 0 && silent >= r.MaxSilence.D() {
		c.State, c.Value, c.Threshold = Breach, silent.Minutes(), r.MaxSilence.D().Minutes()
		c.Summary = fmt.Sprintf("No leads from %s for %s (limit %s).", what, round(silent), round(r.MaxSilence.D()))
		return true
	}
	if now.Sub(fromMS(s.first)) < r.MinHistory.D() {
		return false
	}
	lambda := s.expected(now.Add(-r.Window.D()), now, loc)
	if lambda < 0 {
		return false
	}
	p := math.Exp(-lambda)
	if p >= r.Probability {
		return false
	}
	c.State, c.Value, c.Threshold = Breach, lambda, -math.Log(r.Probability)
	c.Labels["expected_leads"] = fmt.Sprintf("%.1f", lambda)
	c.Summary = fmt.Sprintf("No leads from %s for %s; %.1f were expected in the last %s (chance of none: %.2g%%).",
		what, round(silent), lambda, round(r.Window.D()), p*100)
	return true
}

func (a *accountState) noLeads(r *rules.Rule, now time.Time, out []Condition) []Condition {
	if r.PerChannel() {
		for _, ch := range sortedKeys(a.series) {
			if ch == "" || !r.MatchesChannel(ch) {
				continue
			}
			c := a.condition(r, ch)
			c.Labels["channel"] = ch
			if noLeadsVerdict(r, a.series[ch], now, a.sched.Loc, &c) {
				out = append(out, c)
			}
		}
		return out
	}
	c := a.condition(r, "")
	if noLeadsVerdict(r, a.series[""], now, a.sched.Loc, &c) {
		out = append(out, c)
	}
	return out
}

func (t *tenantState) noLeads(r *rules.Rule, now time.Time, out []Condition) []Condition {
	if r.PerChannel() {
		for _, ch := range sortedKeys(t.series) {
			if ch == "" || !r.MatchesChannel(ch) {
				continue
			}
			c := t.condition(r, ch)
			c.Labels["channel"] = ch
			if noLeadsVerdict(r, t.series[ch], now, t.sched.Loc, &c) {
				out = append(out, c)
			}
		}
		return out
	}
	c := t.condition(r, "")
	if noLeadsVerdict(r, t.series[""], now, t.sched.Loc, &c) {
		out = append(out, c)
	}
	return out
}

// unlinkedLeads is the share of leads with no touchpoint among those that
// came in the window and have had grace to be linked.
func (a *accountState) unlinkedLeads(r *rules.Rule, now time.Time, out []Condition) []Condition {
	from := now.Add(-r.Window.D()).UnixMilli()
	to := now.Add(-r.Grace.D()).UnixMilli()
	total, unlinked := 0, 0
	for _, l := range a.leads {
		if l.ts > from && l.ts <= to {
			total++
			if l.touches == 0 {
				unlinked++
			}
		}
	}
	c := a.condition(r, "")
	c.Title = "leads linked to no visit or ad"
	c.Threshold = r.MaxShare * 100
	if total > 0 {
		c.Value = float64(unlinked) / float64(total) * 100
	}
	if total >= r.MinCount && float64(unlinked) > r.MaxShare*float64(total) {
		c.State = Breach
		c.Summary = fmt.Sprintf("%d of %d leads in the last %s (%.0f%%) are linked to no visit or ad, so their channel is unknown (limit %.0f%%).",
			unlinked, total, round(r.Window.D()), c.Value, c.Threshold)
	}
	return append(out, c)
}

// round is a duration for people: minutes, or hours and minutes.
func round(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh%02dm", int(d.Hours()), m)
		}
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dm", int(d.Minutes()))
}
