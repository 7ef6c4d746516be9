package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// maxOpenDeals bounds the deals kept per account; beyond it new deals are
// not tracked (a CRM with that many open deals needs other tools).
const maxOpenDeals = 100_000

// dealInfo is what the CRM hygiene rules need of a deal's latest version:
// kept while it is open, or won without an amount.
type dealInfo struct {
	version    uint64
	crmID      string
	stage      string
	stageSince int64 // when it entered its stage (the CRM's updated_at of that change)
	open       bool
	wonNoSum   int64 // won at, when won with no amount; 0 otherwise
}

func (a *accountState) deal(d *entity.Deal) {
	di := a.deals[d.DealID]
	if di != nil && d.Version <= di.version {
		return // a version already applied (a replay)
	}
	if d.Deleted {
		delete(a.deals, d.DealID)
		return
	}
	if di == nil {
		if len(a.deals) >= maxOpenDeals {
			return
		}
		di = &dealInfo{}
	}
	di.version, di.crmID = d.Version, d.CRMDealID
	if di.crmID == "" {
		di.crmID = d.DealID
	}
	changed := d.UpdatedAt
	if changed == 0 {
		changed = d.CreatedAt
	}
	di.open = d.Outcome == "open" || d.Outcome == ""
	if di.open && (di.stageSince == 0 || di.stage != d.Stage) {
		di.stage, di.stageSince = d.Stage, changed
	}
	di.wonNoSum = 0
	if d.Outcome == "won" && d.AmountMinor == 0 {
		di.wonNoSum = d.WonAt
		if di.wonNoSum == 0 {
			di.wonNoSum = changed
		}
	}
	if !di.open && di.wonNoSum == 0 {
		delete(a.deals, d.DealID)
		return
	}
	a.deals[d.DealID] = di
}

// wonWithoutAmount counts deals won in the window with no amount: their
// revenue is missing from every report until someone enters it.
func (a *accountState) wonWithoutAmount(r *rules.Rule, now time.Time, out []Condition) []Condition {
	from := now.Add(-r.Window.D()).UnixMilli()
	var ids []string
	for _, d := range a.deals {
		if d.wonNoSum > from {
			ids = append(ids, d.crmID)
		}
	}
	c := a.condition(r, "")
	c.Title = "deals won without an amount"
	c.Value, c.Threshold = float64(len(ids)), float64(r.MinCount)
	if len(ids) >= r.MinCount {
		c.State = Breach
		c.Labels["deals"] = examples(ids, 5)
		c.Summary = fmt.Sprintf("%d deals won in the last %s have no amount, so their revenue is missing: %s.",
			len(ids), round(r.Window.D()), examples(ids, 5))
	}
	return append(out, c)
}

// stuckDeals counts open deals that have not left their stage for longer
// than the stage's limit (and not so long that they count as abandoned).
func (a *accountState) stuckDeals(r *rules.Rule, now time.Time, out []Condition) []Condition {
	byStage := map[string]int{}
	var ids []string
	n := 0
	for _, d := range a.deals {
		if !d.open {
			continue
		}
		age := now.Sub(fromMS(d.stageSince))
		if age <= r.StageMaxAge(d.stage) || r.IgnoreAfter > 0 && age >= r.IgnoreAfter.D() {
			continue
		}
		n++
		byStage[d.stage]++
		ids = append(ids, d.crmID)
	}
	c := a.condition(r, "")
	c.Title = "deals stuck in their stage"
	c.Value, c.Threshold = float64(n), float64(r.MinCount)
	if n >= r.MinCount {
		c.State = Breach
		var parts []string
		for _, st := range sortedKeys(byStage) {
			name := st
			if name == "" {
				name = "(no stage)"
			}
			parts = append(parts, fmt.Sprintf("%s: %d", name, byStage[st]))
		}
		c.Labels["deals"] = examples(ids, 5)
		c.Summary = fmt.Sprintf("%d open deals have stayed in their stage longer than %s (%s), e.g. %s.",
			n, round(r.MaxAge.D()), strings.Join(parts, ", "), examples(ids, 5))
	}
	return append(out, c)
}

// examples lists up to n ids, sorted, with how many more there are.
func examples(ids []string, n int) string {
	sort.Strings(ids)
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:n], ", "), len(ids)-n)
}
