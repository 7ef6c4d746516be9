// Package rules is the alerter's rule and delivery-target configuration:
// YAML per tenant layered over embedded defaults, with per-account
// overrides, validated at load with errors that name the file, the rule and
// the field. docs/alerts.md describes every kind and setting.
package rules

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Kind is what a rule watches.
// BaselineDays are the finished days the cpl and cost rules learn a
// channel's usual day from (the alerter's --alerter-history default).
const BaselineDays = 28

type Kind string

// The rule kinds.
const (
	KindNoLeads          Kind = "no_leads"           // a channel or branch stopped producing leads
	KindCPL              Kind = "cpl"                // cost per lead today above a threshold or the baseline
	KindCost             Kind = "cost"               // spend today above a threshold or the baseline
	KindMissedCalls      Kind = "missed_calls"       // share of unanswered calls in a window
	KindSilence          Kind = "silence"            // an integration stopped sending
	KindDeadLetters      Kind = "dead_letters"       // share of input rejected into the dead-letter topic
	KindWonWithoutAmount Kind = "won_without_amount" // won deals with no amount
	KindStuckDeals       Kind = "stuck_deals"        // open deals left in one stage too long
	KindUnlinkedLeads    Kind = "unlinked_leads"     // leads with no touchpoint
	KindCostsMissing     Kind = "costs_missing"      // a cost connector's spend of yesterday did not arrive
)

// Kinds lists every kind, in the order the docs describe them.
var Kinds = []Kind{KindNoLeads, KindCPL, KindCost, KindMissedCalls, KindSilence, KindDeadLetters,
	KindWonWithoutAmount, KindStuckDeals, KindUnlinkedLeads, KindCostsMissing}

// Scopes: what one incident is about.
const (
	ScopeAccount        = "account"         // one branch
	ScopeAccountChannel = "account_channel" // one channel of one branch
	ScopeTenant         = "tenant"          // the whole network
	ScopeTenantChannel  = "tenant_channel"  // one channel over the whole network
)

// Severities, lowest first.
var Severities = []string{"info", "warning", "critical"}

// SeverityRank orders severities; unknown ones rank below info.
func SeverityRank(s string) int {
	for i, v := range Severities {
		if v == s {
			return i
		}
	}
	return -1
}

// Rule is one resolved rule. Settings a kind does not use stay zero.
type Rule struct {
	Name          string   `yaml:"name"`
	Kind          Kind     `yaml:"kind"`
	Enabled       bool     `yaml:"enabled"`
	Severity      string   `yaml:"severity"`
	Description   string   `yaml:"description"`
	BusinessHours bool     `yaml:"business_hours"`
	For           Duration `yaml:"for"`
	Cooldown      Duration `yaml:"cooldown"`
	Targets       []string `yaml:"targets"`

	Scope    string   `yaml:"scope"`
	Channels []string `yaml:"channels"`
	Window   Duration `yaml:"window"`

	// no_leads
	Probability float64  `yaml:"probability"`
	MaxSilence  Duration `yaml:"max_silence"`
	MinHistory  Duration `yaml:"min_history"`
	// cpl, cost
	Max     float64 `yaml:"max"`
	Factor  float64 `yaml:"factor"`
	MinCost float64 `yaml:"min_cost"`
	MinDays int     `yaml:"min_days"`
	// missed_calls, dead_letters, won_without_amount, stuck_deals, unlinked_leads
	MaxShare float64 `yaml:"max_share"`
	MinCount int     `yaml:"min_count"`
	// silence, dead_letters
	Sources []string `yaml:"sources"`
	After   Duration `yaml:"after"`
	// stuck_deals
	MaxAge      Duration            `yaml:"max_age"`
	Stages      map[string]Duration `yaml:"stages"`
	IgnoreAfter Duration            `yaml:"ignore_after"`
	// unlinked_leads
	Grace Duration `yaml:"grace"`
	// costs_missing: time of day (in the connector's zone) by which
	// yesterday's spend must have arrived
	By Duration `yaml:"by"`
}

// common are the settings every kind takes; accounts is read by the loader.
var common = []string{"name", "kind", "enabled", "severity", "description", "business_hours", "for", "cooldown", "targets", "accounts"}

// settings are the kind-specific settings.
var settings = map[Kind][]string{
	KindNoLeads:          {"scope", "channels", "window", "probability", "max_silence", "min_history"},
	KindCPL:              {"scope", "channels", "max", "factor", "min_cost", "min_days"},
	KindCost:             {"scope", "channels", "max", "factor", "min_days"},
	KindMissedCalls:      {"window", "max_share", "min_count"},
	KindSilence:          {"sources", "after"},
	KindDeadLetters:      {"sources", "window", "max_share", "min_count"},
	KindWonWithoutAmount: {"window", "min_count"},
	KindStuckDeals:       {"max_age", "stages", "ignore_after", "min_count"},
	KindUnlinkedLeads:    {"window", "grace", "max_share", "min_count"},
	KindCostsMissing:     {"channels", "by"},
}

// allowed reports whether key is a setting of kind.
func allowed(kind Kind, key string) bool {
	for _, k := range common {
		if k == key {
			return true
		}
	}
	for _, k := range settings[kind] {
		if k == key {
			return true
		}
	}
	return false
}

// defaults are a kind's settings before any file sets them.
func defaults(kind Kind) Rule {
	r := Rule{Kind: kind, Enabled: true, Severity: "warning", Cooldown: Duration(time.Hour)}
	switch kind {
	case KindNoLeads:
		r.Scope, r.Window, r.Probability, r.MinHistory, r.BusinessHours = ScopeAccountChannel, Duration(time.Hour), 0.001, Duration(7*24*time.Hour), true
	case KindCPL:
		r.Scope, r.Factor, r.MinCost, r.MinDays = ScopeTenantChannel, 3, 1000, 7
	case KindCost:
		r.Scope, r.Factor, r.MinDays = ScopeTenantChannel, 2, 7
	case KindMissedCalls:
		r.Window, r.MaxShare, r.MinCount, r.BusinessHours = Duration(time.Hour), 0.3, 5, true
	case KindSilence:
		r.Sources, r.After, r.BusinessHours, r.Severity = []string{"site", "calls", "crm"}, Duration(4*time.Hour), true, "critical"
	case KindDeadLetters:
		r.Window, r.MaxShare, r.MinCount = Duration(time.Hour), 0.05, 20
	case KindWonWithoutAmount:
		r.Window, r.MinCount = Duration(24*time.Hour), 1
	case KindStuckDeals:
		r.MaxAge, r.IgnoreAfter, r.MinCount = Duration(72*time.Hour), Duration(30*24*time.Hour), 3
	case KindUnlinkedLeads:
		r.Window, r.Grace, r.MaxShare, r.MinCount = Duration(24*time.Hour), Duration(2*time.Hour), 0.5, 5
	case KindCostsMissing:
		r.By = Duration(10 * time.Hour)
	}
	return r
}

// SourceFamilies are the integrations silence and dead_letters rules name:
// a family covers every source of that kind ("crm" is crm:amocrm,
// crm:bitrix24, …); a rule may also name one source exactly.
var SourceFamilies = []string{"site", "calls", "crm", "costs"}

// Family is the integration a source (an envelope's or dead letter's
// Source) belongs to: site (pixel, api), calls (hook:*), crm (crm:*),
// costs (costs:*); other sources are their own family.
func Family(source string) string {
	switch {
	case source == "pixel" || source == "api" || source == "tracker":
		return "site"
	case strings.HasPrefix(source, "hook:"):
		return "calls"
	case strings.HasPrefix(source, "crm:"):
		return "crm"
	case strings.HasPrefix(source, "costs:"):
		return "costs"
	}
	return source
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// fieldError names the setting that is wrong.
type fieldError struct{ field, reason string }

func (e *fieldError) Error() string { return e.field + ": " + e.reason }

func ferr(field, format string, args ...any) error {
	return &fieldError{field, fmt.Sprintf(format, args...)}
}

// validate checks a resolved rule; errors name the field.
func (r *Rule) validate() error {
	if !nameRE.MatchString(r.Name) {
		return ferr("name", "%q must be 1-64 of a-z, 0-9, _ and -, starting with a letter or digit", r.Name)
	}
	if _, ok := settings[r.Kind]; !ok {
		return ferr("kind", "%q is not one of %s", r.Kind, kindList())
	}
	if SeverityRank(r.Severity) < 0 {
		return ferr("severity", "%q is not one of %s", r.Severity, strings.Join(Severities, ", "))
	}
	if r.For < 0 {
		return ferr("for", "must not be negative")
	}
	if r.Cooldown < 0 {
		return ferr("cooldown", "must not be negative")
	}
	for _, c := range r.Channels {
		if c == "" {
			return ferr("channels", "empty channel name")
		}
	}
	positive := func(field string, d Duration) error {
		if d <= 0 {
			return ferr(field, "must be positive")
		}
		return nil
	}
	share := func() error {
		if r.MaxShare < 0 || r.MaxShare >= 1 || math.IsNaN(r.MaxShare) {
			return ferr("max_share", "%v is not a share in [0, 1)", r.MaxShare)
		}
		if r.MinCount < 1 {
			return ferr("min_count", "%d, must be at least 1", r.MinCount)
		}
		return nil
	}
	switch r.Kind {
	case KindNoLeads:
		if err := scopeIn(r.Scope, ScopeAccountChannel, ScopeAccount, ScopeTenantChannel, ScopeTenant); err != nil {
			return err
		}
		if err := positive("window", r.Window); err != nil {
			return err
		}
		if r.Window.D() > 24*time.Hour {
			return ferr("window", "%s is over 24h: the baseline is judged on the day before the window", r.Window.D())
		}
		if r.Probability <= 0 || r.Probability >= 1 {
			return ferr("probability", "%v is not a probability in (0, 1)", r.Probability)
		}
		if r.MaxSilence < 0 {
			return ferr("max_silence", "must not be negative")
		}
		if r.MinHistory < 0 {
			return ferr("min_history", "must not be negative")
		}
	case KindCPL, KindCost:
		if err := scopeIn(r.Scope, ScopeTenantChannel, ScopeAccountChannel); err != nil {
			return err
		}
		if r.Max < 0 || r.Factor < 0 || r.MinCost < 0 {
			return ferr("max", "max, factor and min_cost must not be negative")
		}
		if r.Max == 0 && r.Factor == 0 {
			return ferr("max", "set max (a fixed threshold), factor (times the baseline) or both")
		}
		if r.Factor != 0 && r.Factor <= 1 {
			return ferr("factor", "%v must be above 1 (times the baseline)", r.Factor)
		}
		if r.MinDays < 1 || r.MinDays > BaselineDays {
			return ferr("min_days", "%d, must be 1 to %d (the days the baseline is learned from)", r.MinDays, BaselineDays)
		}
	case KindMissedCalls, KindDeadLetters, KindUnlinkedLeads:
		if err := positive("window", r.Window); err != nil {
			return err
		}
		if err := share(); err != nil {
			return err
		}
		if r.Kind == KindUnlinkedLeads && (r.Grace < 0 || r.Grace >= r.Window) {
			return ferr("grace", "%s must be under window %s", r.Grace.D(), r.Window.D())
		}
		if r.Kind == KindDeadLetters {
			return r.validateSources(false)
		}
	case KindSilence:
		if err := positive("after", r.After); err != nil {
			return err
		}
		return r.validateSources(true)
	case KindWonWithoutAmount:
		if err := positive("window", r.Window); err != nil {
			return err
		}
		if r.MinCount < 1 {
			return ferr("min_count", "%d, must be at least 1", r.MinCount)
		}
	case KindCostsMissing:
		if r.By <= 0 || r.By.D() >= 24*time.Hour {
			return ferr("by", "%s is not a time of day (after 0h, before 24h)", r.By.D())
		}
	case KindStuckDeals:
		if err := positive("max_age", r.MaxAge); err != nil {
			return err
		}
		for stage, d := range r.Stages {
			if d <= 0 {
				return ferr("stages."+stage, "must be positive")
			}
		}
		if r.IgnoreAfter != 0 && r.IgnoreAfter <= r.MaxAge {
			return ferr("ignore_after", "%s must be above max_age %s (or 0: never)", r.IgnoreAfter.D(), r.MaxAge.D())
		}
		if r.MinCount < 1 {
			return ferr("min_count", "%d, must be at least 1", r.MinCount)
		}
	}
	return nil
}

func (r *Rule) validateSources(required bool) error {
	if required && len(r.Sources) == 0 {
		return ferr("sources", "required: families (%s) or exact sources (crm:amocrm, hook:mango, …)", strings.Join(SourceFamilies, ", "))
	}
	for _, s := range r.Sources {
		if s == "" || strings.ContainsAny(s, " \t") {
			return ferr("sources", "%q is not a source", s)
		}
	}
	return nil
}

func scopeIn(scope string, ok ...string) error {
	for _, s := range ok {
		if s == scope {
			return nil
		}
	}
	return ferr("scope", "%q is not one of %s", scope, strings.Join(ok, ", "))
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// MatchesChannel reports whether the rule watches channel.
func (r *Rule) MatchesChannel(channel string) bool {
	if len(r.Channels) == 0 {
		return true
	}
	for _, c := range r.Channels {
		if c == channel {
			return true
		}
	}
	return false
}

// StageMaxAge is how long a deal may stay in stage.
func (r *Rule) StageMaxAge(stage string) time.Duration {
	if d, ok := r.Stages[stage]; ok {
		return d.D()
	}
	return r.MaxAge.D()
}

// PerChannel reports whether the rule's incidents are per channel.
func (r *Rule) PerChannel() bool {
	return r.Scope == ScopeAccountChannel || r.Scope == ScopeTenantChannel
}

// TenantWide reports whether the rule's incidents cover the whole network.
func (r *Rule) TenantWide() bool {
	return r.Scope == ScopeTenant || r.Scope == ScopeTenantChannel || r.Kind == KindDeadLetters
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
