// Package engine keeps the state alert rules are evaluated on — lead rates
// and their baselines, calls, deals, costs, integration activity and dead
// letters per tenant and account — built from the live input streams, and
// evaluates the rules at an instant of event time. It knows nothing of
// Kafka or of notifications: the caller feeds it records and a clock, and
// turns the conditions it reports into incidents.
//
// Evaluation is deterministic: the same inputs and instants give the same
// conditions, which is what the rule tests rely on. An Engine is not safe
// for concurrent use.
package engine

import (
	"sort"
	"time"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// Key identifies what one incident is about.
type Key struct {
	Tenant  string
	Account string // "" for rules over the whole network
	Rule    string
	Subject string // the channel, source or family; "" when the rule has none
}

// State of a condition at an evaluation.
type State int8

// Conditions are breaching or clear. A key the evaluation does not report
// (outside business hours, not enough history, a silence that is not
// unusual) holds whatever state it had.
const (
	Clear State = iota
	Breach
)

// Condition is one rule's verdict on one key.
type Condition struct {
	Key
	Rule      *rules.Rule
	State     State
	Value     float64 // what was measured, in the unit of Threshold
	Threshold float64
	Title     string            // short: "no leads from yandex_direct"
	Summary   string            // one or two sentences with the figures
	Labels    map[string]string // channel, source, account_name, …
}

// Engine holds the state of every tenant.
type Engine struct {
	cat     *rules.Catalog
	ten     *tenants.Config
	tenants map[string]*tenantState
	now     time.Time // of the last full evaluation
}

// New returns an empty engine for the given rules and tenants.
func New(cat *rules.Catalog, ten *tenants.Config) *Engine {
	if ten == nil {
		ten = &tenants.Config{}
	}
	e := &Engine{cat: cat, ten: ten, tenants: map[string]*tenantState{}}
	// Cost connectors are expected to deliver whether or not anything
	// else of their tenant or branch arrives (costs_missing).
	for _, t := range ten.Tenants {
		for _, x := range costConnectors(&t) {
			if x.account == costCentralAccount {
				e.tenant(t.ID)
			} else {
				e.account(t.ID, x.account)
			}
		}
	}
	return e
}

// leadKeep is how long leads are remembered (de-duplication of their
// versions, day counts, unlinked shares); older ones are ignored.
const leadKeep = 8 * 24 * time.Hour

type tenantState struct {
	id       string
	set      *rules.Set
	sched    tenants.Schedule
	currency string
	dirty    bool
	accounts map[string]*accountState

	series map[string]*series // no_leads over the whole network, by channel ("" = all)
	costs  costBook
	dlq    map[string]*minuteCounts // dead_letters, by source family
	dlqMax time.Duration            // longest dead_letters window

	costConnectors []expectedCosts // costs_missing
}

type accountState struct {
	t     *tenantState
	id    string
	name  string
	sched tenants.Schedule
	rules []*rules.Rule
	dirty bool

	leads   map[string]*leadInfo
	series  map[string]*series // by channel ("" = all)
	calls   map[string]callInfo
	deals   map[string]*dealInfo
	sources map[string]int64 // source → last received_at, Unix ms
}

func (e *Engine) tenant(id string) *tenantState {
	t := e.tenants[id]
	if t == nil {
		cur := "RUB"
		tc, _ := e.ten.Find(id, "")
		if tc != nil && tc.Currency != "" {
			cur = tc.Currency
		}
		t = &tenantState{id: id, set: e.cat.Tenant(id), sched: e.ten.Schedule(id, ""), currency: cur,
			accounts: map[string]*accountState{}, series: map[string]*series{},
			costs: newCostBook(), dlq: map[string]*minuteCounts{}, costConnectors: costConnectors(tc)}
		for _, r := range t.set.Rules {
			if r.Kind == rules.KindDeadLetters && r.Window.D() > t.dlqMax {
				t.dlqMax = r.Window.D()
			}
		}
		e.tenants[id] = t
	}
	t.dirty = true
	return t
}

func (e *Engine) account(tenant, id string) *accountState {
	t := e.tenant(tenant)
	a := t.accounts[id]
	if a == nil {
		a = &accountState{t: t, id: id, sched: e.ten.Schedule(tenant, id), rules: t.set.ForAccount(id),
			leads: map[string]*leadInfo{}, series: map[string]*series{},
			calls: map[string]callInfo{}, deals: map[string]*dealInfo{}, sources: map[string]int64{}}
		if _, ac := e.ten.Find(tenant, id); ac != nil {
			a.name = ac.Name
		}
		t.accounts[id] = a
	}
	a.dirty = true
	return a
}

// tooOld reports whether an input at ms is past what the state remembers.
func (e *Engine) tooOld(ms int64) bool {
	return !e.now.IsZero() && ms < e.now.Add(-leadKeep).UnixMilli()
}

// Lead takes one version of a lead from the leads topic.
func (e *Engine) Lead(l *entity.Lead) {
	if l.Tenant == "" || l.Account == "" || l.LeadID == "" || e.tooOld(l.TS) {
		return
	}
	a := e.account(l.Tenant, l.Account)
	a.lead(l)
}

// Call takes one version of a call from the calls topic.
func (e *Engine) Call(c *entity.Call) {
	if c.Tenant == "" || c.Account == "" || c.CallID == "" || e.tooOld(c.TS) {
		return
	}
	e.account(c.Tenant, c.Account).call(c)
}

// Deal takes one version of a deal from the deals topic.
func (e *Engine) Deal(d *entity.Deal) {
	if d.Tenant == "" || d.Account == "" || d.DealID == "" {
		return
	}
	e.account(d.Tenant, d.Account).deal(d)
}

// Envelope takes an accepted input from the raw or costs topic: it marks
// its source active and counts toward its family's dead-letter share; a
// cost row or import commit goes into the cost book.
func (e *Engine) Envelope(env *event.Envelope) {
	if env.Tenant == "" || env.Account == "" {
		return
	}
	if env.Type == event.TypeRestate && env.Source == event.SourceRestate {
		return // a restatement re-sends old hits: no input arrived, no source is active
	}
	t := e.tenant(env.Tenant)
	at := env.ReceivedAt
	if at == 0 {
		at = env.TS
	}
	t.countInput(rules.Family(env.Source), at, false)
	if env.Type == event.TypeCost && env.Cost != nil {
		t.costs.add(env)
	}
	if env.Account == costCentralAccount {
		return
	}
	a := e.account(env.Tenant, env.Account)
	if at > a.sources[env.Source] {
		a.sources[env.Source] = at
	}
}

// DeadLetter takes a record of the dead-letter topic. Dead letters without
// a tenant (the sender was not authenticated) belong to no tenant's rules.
func (e *Engine) DeadLetter(d *event.DeadLetter) {
	if d.Tenant == "" {
		return
	}
	e.tenant(d.Tenant).countInput(rules.Family(d.Source), d.ReceivedAt, true)
}

// Evaluate advances the state to now (folding finished hours and days into
// the baselines, forgetting what no window reaches) and returns the
// conditions of every rule of every tenant and account. With changedOnly,
// it evaluates only what inputs touched since the last evaluation and
// leaves the time-driven work to the next full one.
func (e *Engine) Evaluate(now time.Time, changedOnly bool) []Condition {
	if !changedOnly && now.After(e.now) {
		e.now = now
	}
	var out []Condition
	for _, tid := range sortedKeys(e.tenants) {
		t := e.tenants[tid]
		if changedOnly && !t.dirty {
			continue
		}
		if !changedOnly {
			t.advance(now)
		}
		out = t.evaluate(now, out)
		for _, aid := range sortedKeys(t.accounts) {
			a := t.accounts[aid]
			if changedOnly && !a.dirty {
				continue
			}
			if !changedOnly {
				a.advance(now)
			}
			out = a.evaluate(now, out)
			a.dirty = false
		}
		t.dirty = false
	}
	return out
}

func (t *tenantState) advance(now time.Time) {
	for _, s := range t.series {
		s.fold(now, t.sched.Loc)
	}
	t.costs.advance(now, t.sched.Loc)
	keep := max(t.dlqMax, time.Hour)
	for _, m := range t.dlq {
		m.prune(now.Add(-keep))
	}
}

func (t *tenantState) evaluate(now time.Time, out []Condition) []Condition {
	for _, r := range t.set.Rules {
		if r.Kind == rules.KindCostsMissing {
			// the tenant's own (central) connectors; branches' are their accounts'
			out = t.costsMissing(r, now, costCentralAccount, func(s string) Condition { return t.condition(r, s) }, out)
			continue
		}
		if !r.TenantWide() {
			continue
		}
		if r.BusinessHours && !t.sched.Open(now) {
			continue
		}
		switch r.Kind {
		case rules.KindNoLeads:
			out = t.noLeads(r, now, out)
		case rules.KindCPL, rules.KindCost:
			out = t.spend(r, now, out)
		case rules.KindDeadLetters:
			out = t.deadLetters(r, now, out)
		}
	}
	return out
}

func (a *accountState) advance(now time.Time) {
	for _, s := range a.series {
		s.fold(now, a.sched.Loc)
	}
	a.forget(now)
}

func (a *accountState) evaluate(now time.Time, out []Condition) []Condition {
	for _, r := range a.rules {
		if r.TenantWide() {
			continue
		}
		// Silence counts business time itself; missed calls counts only the
		// calls in business hours; the rest wait for business hours.
		if r.BusinessHours && r.Kind != rules.KindSilence && !a.sched.Open(now) {
			continue
		}
		switch r.Kind {
		case rules.KindNoLeads:
			out = a.noLeads(r, now, out)
		case rules.KindCPL, rules.KindCost:
			out = a.spend(r, now, out)
		case rules.KindMissedCalls:
			out = a.missedCalls(r, now, out)
		case rules.KindSilence:
			out = a.silence(r, now, out)
		case rules.KindWonWithoutAmount:
			out = a.wonWithoutAmount(r, now, out)
		case rules.KindStuckDeals:
			out = a.stuckDeals(r, now, out)
		case rules.KindUnlinkedLeads:
			out = a.unlinkedLeads(r, now, out)
		case rules.KindCostsMissing:
			out = a.t.costsMissing(r, now, a.id, func(s string) Condition { return a.condition(r, s) }, out)
		}
	}
	return out
}

// condition starts a condition of an account's rule.
func (a *accountState) condition(r *rules.Rule, subject string) Condition {
	c := Condition{Key: Key{Tenant: a.t.id, Account: a.id, Rule: r.Name, Subject: subject}, Rule: r, Labels: map[string]string{}}
	if a.name != "" {
		c.Labels["account_name"] = a.name
	}
	return c
}

func (t *tenantState) condition(r *rules.Rule, subject string) Condition {
	return Condition{Key: Key{Tenant: t.id, Rule: r.Name, Subject: subject}, Rule: r, Labels: map[string]string{}}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
