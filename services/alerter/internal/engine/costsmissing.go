package engine

import (
	"fmt"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// expectedCosts is a cost connector whose spend should arrive every day:
// the collector pulls it after midnight in loc (docs/costs.md).
type expectedCosts struct {
	account   string // costCentralAccount for a tenant's own connector
	connector string
	channel   string
	loc       *time.Location
}

// costConnectors lists the connectors of a tenant, central ones first.
// A zone that does not load was refused by the tenants file's validation.
func costConnectors(t *tenants.Tenant) []expectedCosts {
	if t == nil {
		return nil
	}
	var out []expectedCosts
	add := func(account, accountTZ string, cs []tenants.CostConnector) {
		for i := range cs {
			c := &cs[i]
			loc, err := c.Location(accountTZ, t.Timezone)
			if err != nil {
				loc = time.UTC
			}
			out = append(out, expectedCosts{account: account, connector: c.ID(), channel: c.ChannelOrDefault(), loc: loc})
		}
	}
	add(costCentralAccount, "", t.CostConnectors)
	for i := range t.Accounts {
		add(t.Accounts[i].ID, t.Accounts[i].Timezone, t.Accounts[i].CostConnectors)
	}
	return out
}

// dueDay is the latest day whose spend should have arrived by now: yesterday
// once the day has passed `by`, else the day before.
func dueDay(now time.Time, loc *time.Location, by time.Duration) string {
	l := now.In(loc)
	y, m, d := l.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	back := 1
	if now.Before(midnight.Add(by)) {
		back = 2
	}
	return time.Date(y, m, d-back, 0, 0, 0, 0, loc).Format(time.DateOnly)
}

// costsMissing reports every connector of account (costCentralAccount: the
// tenant's own) whose due day has no committed import for its channel.
// Spend of zero arrives too (a pull restates a day without spend with a
// zero row), so only a pull that did not happen breaches.
func (t *tenantState) costsMissing(r *rules.Rule, now time.Time, account string, cond func(string) Condition, out []Condition) []Condition {
	for _, x := range t.costConnectors {
		if x.account != account || !r.MatchesChannel(x.channel) {
			continue
		}
		day := dueDay(now, x.loc, r.By.D())
		c := cond(x.connector)
		c.Labels["channel"] = x.channel
		c.Labels["connector"] = x.connector
		c.Labels["day"] = day
		c.Threshold = r.By.D().Hours()
		if cell := t.costs.cell(cellKey{account, day, x.channel}); cell != nil && cell.committed {
			c.State = Clear
			out = append(out, c)
			continue
		}
		c.State = Breach
		c.Value = 1
		c.Title = fmt.Sprintf("spend of %s from %s did not arrive", day, x.channel)
		c.Summary = fmt.Sprintf("No cost import of %s for %s (connector %s) by %s %s: see throughline_costpull_pulls_total and the collector's log for why the pull fails.",
			day, x.channel, x.connector, clock(r.By.D()), x.loc)
		out = append(out, c)
	}
	return out
}

// clock writes a time of day, 10h → "10:00".
func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}
