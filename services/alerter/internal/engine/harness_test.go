package engine_test

import (
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/alerter/internal/engine"
	"github.com/throughline/throughline/services/alerter/internal/incident"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// The test network: Moscow head office hours for every branch; nsk keeps
// them on Novosibirsk time (UTC+7, four hours ahead of Moscow).
const testTenants = `
tenants:
  - id: acme
    timezone: Europe/Moscow
    currency: RUB
    business_hours: {days: [mon..fri], from: "09:00", to: "20:00"}
    accounts:
      - {id: msk, name: Moscow}
      - {id: nsk, timezone: Asia/Novosibirsk}
`

var (
	msk, _ = time.LoadLocation("Europe/Moscow")
	nsk, _ = time.LoadLocation("Asia/Novosibirsk")
	// monday is Monday 2 March 2026, 00:00 Moscow time.
	monday = time.Date(2026, 3, 2, 0, 0, 0, 0, msk)
)

// harness drives an engine and an incident manager through event time the
// way the alerter does, and keeps the alert versions of the rules under test.
type harness struct {
	t        *testing.T
	e        *engine.Engine
	m        *incident.Manager
	now      time.Time
	watch    map[string]bool
	versions []incident.Alert
	seq      int
}

// newHarness loads acme's rules (the defaults with rulesYAML over them) and
// watches the named rules.
func newHarness(t *testing.T, rulesYAML string, watch ...string) *harness {
	t.Helper()
	ten, err := tenants.Parse([]byte(testTenants))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := rules.Load(fstest.MapFS{"acme.yaml": {Data: []byte(rulesYAML)}}, ten, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, e: engine.New(cat, ten), m: incident.NewManager(24*time.Hour, nil), watch: map[string]bool{}}
	for _, w := range watch {
		h.watch[w] = true
	}
	return h
}

// to moves event time to at and evaluates everything, as the alerter's tick does.
func (h *harness) to(at time.Time) []incident.Alert {
	h.t.Helper()
	if at.Before(h.now) {
		h.t.Fatalf("time goes backwards: %s → %s", h.now, at)
	}
	h.now = at
	return h.apply(h.e.Evaluate(at, false))
}

// changed evaluates what the latest inputs touched, as the alerter does after each poll.
func (h *harness) changed() []incident.Alert {
	return h.apply(h.e.Evaluate(h.now, true))
}

func (h *harness) apply(conds []engine.Condition) []incident.Alert {
	var mine []engine.Condition
	for _, c := range conds {
		if h.watch[c.Rule.Name] {
			mine = append(mine, c)
		}
	}
	got := h.m.Apply(h.now, mine)
	h.versions = append(h.versions, got...)
	return got
}

// run advances event time in steps to until, evaluating at every step.
func (h *harness) run(until time.Time, step time.Duration) []incident.Alert {
	var out []incident.Alert
	for t := h.now.Add(step); !t.After(until); t = t.Add(step) {
		out = append(out, h.to(t)...)
	}
	return out
}

func (h *harness) lead(account, channel string, at time.Time, touches int) {
	h.seq++
	h.e.Lead(&entity.Lead{Meta: entity.Meta{Tenant: "acme", Account: account, Version: 1},
		LeadID: fmt.Sprintf("L%d", h.seq), TS: at.UnixMilli(), Channel: channel, Touches: touches, Kind: "form"})
}

func (h *harness) call(account string, at time.Time, answered bool) {
	h.seq++
	h.e.Call(&entity.Call{Meta: entity.Meta{Tenant: "acme", Account: account, Version: 1},
		CallID: fmt.Sprintf("C%d", h.seq), TS: at.UnixMilli(), Answered: answered, Channel: "direct"})
}

func (h *harness) input(account, source string, at time.Time) {
	h.seq++
	h.e.Envelope(&event.Envelope{V: 1, ID: fmt.Sprintf("E%d", h.seq), Tenant: "acme", Account: account,
		Type: "pageview", Source: source, TS: at.UnixMilli(), ReceivedAt: at.UnixMilli()})
}

func (h *harness) deadLetter(source string, at time.Time) {
	h.e.DeadLetter(&event.DeadLetter{V: 1, Tenant: "acme", Account: "msk", Source: source, Reason: "bad", ReceivedAt: at.UnixMilli()})
}

// spend uploads a day's cost of a channel for an account, as one import.
func (h *harness) spend(account, day, channel string, rub int64, at time.Time) {
	h.seq++
	imp := fmt.Sprintf("imp%d", h.seq)
	h.e.Envelope(&event.Envelope{V: 1, ID: imp + "-row", Tenant: "acme", Account: account, Type: event.TypeCost, Source: "costs:generic",
		TS: at.UnixMilli(), ReceivedAt: at.UnixMilli(),
		Cost: &event.Cost{Date: day, Channel: channel, Amount: rub * 100, Currency: "RUB", ImportID: imp}})
	h.e.Envelope(&event.Envelope{V: 1, ID: imp + "-commit", Tenant: "acme", Account: account, Type: event.TypeCost, Source: "costs:generic",
		TS: at.UnixMilli(), ReceivedAt: at.UnixMilli(),
		Cost: &event.Cost{Currency: "RUB", ImportID: imp, Commit: true, ImportRows: 1}})
}

func (h *harness) deal(account, id, stage, outcome string, amount int64, at time.Time) {
	h.seq++
	d := &entity.Deal{Meta: entity.Meta{Tenant: "acme", Account: account, Version: uint64(h.seq)},
		DealID: id, CRMDealID: "crm-" + id, CreatedAt: at.UnixMilli(), UpdatedAt: at.UnixMilli(),
		Stage: stage, Outcome: outcome, AmountMinor: amount}
	if outcome == "won" {
		d.WonAt = at.UnixMilli()
		d.RevenueMinor = amount
	}
	h.e.Deal(d)
}

// expect checks the alert versions a step produced: "firing msk/rule/subject", "resolved …".
func expect(t *testing.T, what string, got []incident.Alert, want ...string) {
	t.Helper()
	var g []string
	for _, a := range got {
		g = append(g, fmt.Sprintf("%s %s/%s/%s", a.Status, a.Account, a.Rule, a.Subject))
	}
	if fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("%s: alert versions %q, want %q", what, g, want)
	}
}

func active(h *harness, account, rule, subject string) *incident.Alert {
	for _, a := range h.m.Active("acme") {
		if a.Account == account && a.Rule == rule && a.Subject == subject {
			return &a
		}
	}
	return nil
}

// dealVersion is a version of a deal of msk with an explicit version number.
func dealVersion(id string, version uint64, outcome string, amount int64, at time.Time) *entity.Deal {
	return &entity.Deal{Meta: entity.Meta{Tenant: "acme", Account: "msk", Version: version},
		DealID: id, CRMDealID: "crm-" + id, UpdatedAt: at.UnixMilli(), WonAt: at.UnixMilli(),
		Outcome: outcome, AmountMinor: amount, Stage: outcome}
}
