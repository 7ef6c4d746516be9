package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// costCentralAccount is the account of spend bought centrally (the
// collector's costs.CentralAccount): it counts for the network, not a branch.
const costCentralAccount = "*"

const (
	// dayGrace is how long after a day ends before it counts in the
	// baselines (its spend can still be restated later: it counts anew).
	dayGrace = 3 * time.Hour
	// costAlpha weights a finished day in the daily cost and CPL baselines.
	costAlpha = 0.2
	// costKeepDays are the days of spend and lead counts kept in full: the
	// baselines are learned from them (0.8^28 ≈ 0.2%: older days would
	// weigh nothing), and the alerter reads as much history at start
	// (--alerter-history), so a restart learns the same baselines.
	costKeepDays = rules.BaselineDays
	// paceMinLeads are the leads of finished days a channel needs before
	// its hour-of-day profile paces today's spend (spendConditions).
	paceMinLeads = 20
)

type cellKey struct{ account, day, channel string }

// costCell is the spend of one account, day and channel: the latest
// committed import's rows count, as in the costs_current view.
type costCell struct {
	current   int64
	committed bool             // an import covering it is committed (costs_missing)
	pending   map[string]int64 // import id → its rows so far
}

type dayBase struct{ cost, cpl ewma }

// hourly counts leads by hour of the day (tenant's zone).
type hourly [24]int

// costBook is a tenant's spend and leads per day and channel, and the
// baselines of finished days.
//
// The baselines are learned again from the kept days whenever a finished
// day's spend or leads change, not folded once when a day ends: cost
// history arrives in any order (a month uploaded branch by branch in a
// minute, a connector restating last week), and a day's usual spend is the
// sum of every account's latest import of it, whenever that arrived.
type costBook struct {
	cells    map[string]map[cellKey]*costCell // by day
	imports  map[string]map[cellKey]bool      // account + "\x00" + import id → cells it has rows in
	leads    map[cellKey]int                  // account "" = the whole network
	hours    map[cellKey]*hourly              // network-wide (account "")
	channels map[string]bool
	base     map[string]*dayBase // channel, or account + "\x00" + channel
	profile  map[string]*hourly  // channel → its finished days' leads by hour
	through  string              // the last day in the baselines ("" = none)
	stale    bool                // a day up to through changed since the baselines were learned
}

func newCostBook() costBook {
	return costBook{cells: map[string]map[cellKey]*costCell{}, imports: map[string]map[cellKey]bool{},
		leads: map[cellKey]int{}, hours: map[cellKey]*hourly{}, channels: map[string]bool{},
		base: map[string]*dayBase{}, profile: map[string]*hourly{}}
}

// cell is the spend of an account, day and channel, or nil.
func (b *costBook) cell(k cellKey) *costCell {
	return b.cells[k.day][k]
}

func (b *costBook) add(env *event.Envelope) {
	c := env.Cost
	if c.ImportID == "" {
		return // not restatable: the loader refuses it too
	}
	ik := env.Account + "\x00" + c.ImportID
	if c.Commit {
		for k := range b.imports[ik] {
			cell := b.cell(k)
			if cell == nil {
				continue // its day is forgotten
			}
			cell.current = cell.pending[c.ImportID]
			cell.committed = true
			delete(cell.pending, c.ImportID)
			b.changed(k.day)
		}
		delete(b.imports, ik)
		return
	}
	if c.Channel == "" || c.Date == "" {
		return
	}
	k := cellKey{env.Account, c.Date, c.Channel}
	day := b.cells[c.Date]
	if day == nil {
		day = map[cellKey]*costCell{}
		b.cells[c.Date] = day
	}
	cell := day[k]
	if cell == nil {
		cell = &costCell{pending: map[string]int64{}}
		day[k] = cell
	}
	cell.pending[c.ImportID] += c.Amount
	if b.imports[ik] == nil {
		b.imports[ik] = map[cellKey]bool{}
	}
	b.imports[ik][k] = true
	b.channels[c.Channel] = true
}

// lead counts a lead at local (its time in the tenant's zone).
func (b *costBook) lead(local time.Time, account, channel string) {
	day := local.Format(time.DateOnly)
	b.leads[cellKey{"", day, channel}]++
	b.leads[cellKey{account, day, channel}]++
	k := cellKey{"", day, channel}
	h := b.hours[k]
	if h == nil {
		h = &hourly{}
		b.hours[k] = h
	}
	h[local.Hour()]++
	b.changed(day)
}

// changed marks the baselines to be learned again if day is in them.
func (b *costBook) changed(day string) {
	if day <= b.through {
		b.stale = true
	}
}

// spent is the committed spend of a day and channel: of one account, or
// with account "" of the whole network (central spend included).
func (b *costBook) spent(account, day, channel string) int64 {
	if account != "" {
		if c := b.cell(cellKey{account, day, channel}); c != nil {
			return c.current
		}
		return 0
	}
	var sum int64
	for k, c := range b.cells[day] {
		if k.channel == channel {
			sum += c.current
		}
	}
	return sum
}

func baseKey(account, channel string) string {
	if account == "" {
		return channel
	}
	return account + "\x00" + channel
}

// advance forgets days no rule reads and, when a day has finished or a
// finished day changed, learns the baselines again.
func (b *costBook) advance(now time.Time, loc *time.Location) {
	oldest := now.In(loc).AddDate(0, 0, -costKeepDays).Format(time.DateOnly)
	for day := range b.cells {
		if day < oldest {
			delete(b.cells, day)
		}
	}
	for ik, cells := range b.imports {
		for k := range cells {
			if k.day < oldest {
				delete(cells, k)
			}
		}
		if len(cells) == 0 {
			delete(b.imports, ik)
		}
	}
	for k := range b.leads {
		if k.day < oldest {
			delete(b.leads, k)
		}
	}
	for k := range b.hours {
		if k.day < oldest {
			delete(b.hours, k)
		}
	}
	// The last finished day: the day before the one that ended dayGrace ago.
	through := now.Add(-dayGrace).In(loc).AddDate(0, 0, -1).Format(time.DateOnly)
	if through != b.through || b.stale {
		b.through, b.stale = through, false
		b.learn(oldest)
	}
}

// learn sets the baselines from the kept finished days, oldest first: for
// every channel that spent on a day, network-wide and per account.
func (b *costBook) learn(oldest string) {
	clear(b.base)
	clear(b.profile)
	for k, h := range b.hours {
		if k.day < oldest || k.day > b.through {
			continue
		}
		p := b.profile[k.channel]
		if p == nil {
			p = &hourly{}
			b.profile[k.channel] = p
		}
		for i, n := range h {
			p[i] += n
		}
	}
	type acc struct{ account, channel string }
	for _, day := range sortedKeys(b.cells) {
		if day < oldest || day > b.through {
			continue
		}
		spend := map[acc]int64{}
		for k, c := range b.cells[day] {
			if c.current == 0 {
				continue
			}
			spend[acc{"", k.channel}] += c.current
			if k.account != costCentralAccount {
				spend[acc{k.account, k.channel}] += c.current
			}
		}
		for k, cost := range spend {
			bk := baseKey(k.account, k.channel)
			d := b.base[bk]
			if d == nil {
				d = &dayBase{}
				b.base[bk] = d
			}
			d.cost.add(float64(cost), costAlpha)
			if n := b.leads[cellKey{k.account, day, k.channel}]; n > 0 {
				d.cpl.add(float64(cost)/float64(n), costAlpha)
			}
		}
	}
}

func (t *tenantState) spend(r *rules.Rule, now time.Time, out []Condition) []Condition {
	return spendConditions(r, now, &t.costs, "", t.sched.Loc, t.currency, out, func(ch string) Condition {
		return t.condition(r, ch)
	})
}

func (a *accountState) spend(r *rules.Rule, now time.Time, out []Condition) []Condition {
	return spendConditions(r, now, &a.t.costs, a.id, a.t.sched.Loc, a.t.currency, out, func(ch string) Condition {
		return a.condition(r, ch)
	})
}

// spendConditions evaluates a cpl or cost rule on every channel with spend.
// Cost dates are in the tenant's zone (that is how reports carry them).
func spendConditions(r *rules.Rule, now time.Time, b *costBook, account string, loc *time.Location, currency string,
	out []Condition, cond func(string) Condition) []Condition {
	today := now.In(loc).Format(time.DateOnly)
	for _, ch := range sortedKeys(b.channels) {
		if !r.MatchesChannel(ch) {
			continue
		}
		c := cond(ch)
		c.Labels["channel"] = ch
		c.Labels["day"] = today
		cost := float64(b.spent(account, today, ch))
		leads := b.leads[cellKey{account, today, ch}]
		base := b.base[baseKey(account, ch)]
		if base == nil {
			base = &dayBase{}
		}
		paced := cost
		if base.cost.n > 0 {
			paced = min(cost, base.cost.v*b.share(ch, now.In(loc)))
		}
		if spendVerdict(r, cost, paced, leads, base, currency, &c) {
			out = append(out, c)
		}
	}
	return out
}

// share is the part of a usual day's leads of channel that arrived by
// local's time of day; 1 until its finished days had paceMinLeads.
func (b *costBook) share(channel string, local time.Time) float64 {
	p := b.profile[channel]
	if p == nil {
		return 1
	}
	total, before := 0, 0
	for i, n := range p {
		total += n
		if i < local.Hour() {
			before += n
		}
	}
	if total < paceMinLeads {
		return 1
	}
	inHour := float64(local.Minute()*60+local.Second()) / 3600
	return (float64(before) + inHour*float64(p[local.Hour()])) / float64(total)
}

// spendVerdict judges cost (the day's spend) against the rule. A CPL
// breaches only when paced spend breaches too: paced is the spend counted
// at most at the usual day's pace (its spend times the share of its leads
// due by now), so a day's spend paid ahead — a billboard's rent uploaded
// at midnight — is no spike at 1 a.m. before the day's leads could come.
// The CPL shown is the day's as it stands.
func spendVerdict(r *rules.Rule, cost, paced float64, leads int, base *dayBase, currency string, c *Condition) bool {
	ch := c.Subject
	limit, baseline := -1.0, -1.0
	if r.Max > 0 {
		limit = r.Max * 100
	}
	usual := &base.cost
	if r.Kind == rules.KindCPL {
		usual = &base.cpl
	}
	if r.Factor > 0 && usual.n >= r.MinDays {
		baseline = usual.v
		if t := r.Factor * usual.v; limit < 0 || t < limit {
			limit = t
		}
	}
	value, judged := cost, cost
	if r.Kind == rules.KindCPL {
		value, judged = cost/float64(max(leads, 1)), paced/float64(max(leads, 1))
	}
	c.Value, c.Threshold = value/100, limit/100
	if value == 0 || r.Kind == rules.KindCPL && paced < r.MinCost*100 {
		c.State = Clear
		return true
	}
	if limit < 0 {
		return false // no fixed limit and not enough finished days for a baseline
	}
	if value <= limit || judged <= limit {
		c.State = Clear
		return true
	}
	c.State = Breach
	var why strings.Builder
	if baseline > 0 {
		fmt.Fprintf(&why, "%.1f× its usual %s", value/baseline, money(baseline, currency))
	}
	if r.Max > 0 && value > r.Max*100 {
		if why.Len() > 0 {
			why.WriteString(", ")
		}
		fmt.Fprintf(&why, "above the limit of %s", money(r.Max*100, currency))
	}
	if r.Kind == rules.KindCPL {
		c.Title = "cost per lead of " + ch + " is high today"
		c.Summary = fmt.Sprintf("Cost per lead of %s today is %s (%s spent, %d leads): %s.",
			ch, money(value, currency), money(cost, currency), leads, why.String())
	} else {
		c.Title = "spend on " + ch + " is high today"
		c.Summary = fmt.Sprintf("Spend on %s today is %s: %s.", ch, money(cost, currency), why.String())
	}
	return true
}

// money writes minor units as whole major units with the currency.
func money(minor float64, currency string) string {
	return fmt.Sprintf("%.0f %s", minor/100, currency)
}
