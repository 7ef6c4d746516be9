package stitch

import (
	"errors"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Settings are the thresholds of DESIGN.md's domain rules. Every one can be
// changed per tenant or per account through Policy.
type Settings struct {
	SessionGap        time.Duration `yaml:"session_gap"`          // 30m
	TargetCallMinTalk time.Duration `yaml:"target_call_min_talk"` // 30s
	UniqueCallWindow  time.Duration `yaml:"unique_call_window"`   // 30 days
	LeadWindow        time.Duration `yaml:"lead_window"`          // 30 days: repeat contacts fold into the lead
	Lookback          time.Duration `yaml:"lookback"`             // 90 days of touchpoints before a lead
	HalfLife          time.Duration `yaml:"half_life"`            // time_decay: 7 days
	PositionFirst     float64       `yaml:"position_first"`       // position_based: 0.4
	PositionLast      float64       `yaml:"position_last"`        // position_based: 0.4
	// PersonTTL drops a person whose newest event is this much older than the
	// account's watermark (state bound). A later event for it starts afresh.
	PersonTTL time.Duration `yaml:"person_ttl"` // 180 days
	// MaxHitsPerClient bounds one client's kept hits; the oldest go first.
	MaxHitsPerClient int      `yaml:"max_hits_per_client"` // 1000: keeps a changelog record well under Kafka's 1 MB
	FormGoals        []string `yaml:"form_goals"`          // goal names that are forms even without phone/e-mail
	ChatGoals        []string `yaml:"chat_goals"`          // goal names that are chats
	// PoolCallWindow is how long a pool number's lease is kept after it
	// ends, for calls reported later than the lateness (state bound).
	PoolCallWindow time.Duration `yaml:"pool_call_window"` // 24h
	// OwnDomains are the account's sites besides the page's own registrable
	// domain: a referrer on one of them (or a subdomain) is internal
	// navigation, neither a referral nor the start of a new session.
	OwnDomains []string `yaml:"own_domains"`
}

// DefaultSettings are DESIGN.md's defaults.
func DefaultSettings() Settings {
	day := 24 * time.Hour
	return Settings{
		SessionGap: 30 * time.Minute, TargetCallMinTalk: 30 * time.Second,
		UniqueCallWindow: 30 * day, LeadWindow: 30 * day, Lookback: 90 * day, HalfLife: 7 * day,
		PositionFirst: 0.4, PositionLast: 0.4, PersonTTL: 180 * day, MaxHitsPerClient: 1000, PoolCallWindow: day,
		FormGoals: []string{"form", "form_submit", "lead"},
		ChatGoals: []string{"chat", "chat_started", "chat_message"},
	}
}

// Validate names the setting that is wrong.
func (s Settings) Validate() error {
	var errs []error
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s, must be positive", name, d))
		}
	}
	pos("session_gap", s.SessionGap)
	pos("unique_call_window", s.UniqueCallWindow)
	pos("lead_window", s.LeadWindow)
	pos("lookback", s.Lookback)
	pos("half_life", s.HalfLife)
	pos("person_ttl", s.PersonTTL)
	pos("pool_call_window", s.PoolCallWindow)
	if s.TargetCallMinTalk < 0 {
		errs = append(errs, errors.New("target_call_min_talk: must not be negative"))
	}
	if s.PositionFirst < 0 || s.PositionLast < 0 || s.PositionFirst+s.PositionLast > 1 {
		errs = append(errs, fmt.Errorf("position_first/last: %v/%v, need non-negative shares summing to at most 1", s.PositionFirst, s.PositionLast))
	}
	if s.PersonTTL < s.Lookback {
		errs = append(errs, fmt.Errorf("person_ttl: %s, must be at least lookback (%s)", s.PersonTTL, s.Lookback))
	}
	if s.MaxHitsPerClient < 1 {
		errs = append(errs, errors.New("max_hits_per_client: must be at least 1"))
	}
	return errors.Join(errs...)
}

// overlay copies the non-zero fields of o over s.
func (s Settings) overlay(o Settings) Settings {
	durs := []struct{ dst, src *time.Duration }{
		{&s.SessionGap, &o.SessionGap}, {&s.TargetCallMinTalk, &o.TargetCallMinTalk},
		{&s.UniqueCallWindow, &o.UniqueCallWindow}, {&s.LeadWindow, &o.LeadWindow},
		{&s.Lookback, &o.Lookback}, {&s.HalfLife, &o.HalfLife}, {&s.PersonTTL, &o.PersonTTL},
		{&s.PoolCallWindow, &o.PoolCallWindow},
	}
	for _, d := range durs {
		if *d.src != 0 {
			*d.dst = *d.src
		}
	}
	if o.PositionFirst != 0 || o.PositionLast != 0 {
		s.PositionFirst, s.PositionLast = o.PositionFirst, o.PositionLast
	}
	if o.MaxHitsPerClient != 0 {
		s.MaxHitsPerClient = o.MaxHitsPerClient
	}
	if o.FormGoals != nil {
		s.FormGoals = o.FormGoals
	}
	if o.ChatGoals != nil {
		s.ChatGoals = o.ChatGoals
	}
	if o.OwnDomains != nil {
		s.OwnDomains = o.OwnDomains
	}
	return s
}

// Policy resolves the settings of an account: defaults, then the tenant's
// overrides, then the account's ("tenant/account").
type Policy struct {
	Default   Settings
	Overrides map[string]Settings // key: "tenant" or "tenant/account"; zero fields inherit
}

// For returns the settings of one account.
func (p Policy) For(tenant, account string) Settings {
	s := p.Default
	if o, ok := p.Overrides[tenant]; ok {
		s = s.overlay(o)
	}
	if o, ok := p.Overrides[tenant+"/"+account]; ok {
		s = s.overlay(o)
	}
	return s
}

// Validate checks the defaults and every override as applied.
func (p Policy) Validate() error {
	if err := p.Default.Validate(); err != nil {
		return fmt.Errorf("stitcher settings: %w", err)
	}
	for k, o := range p.Overrides {
		if err := p.Default.overlay(o).Validate(); err != nil {
			return fmt.Errorf("stitcher settings for %s: %w", k, err)
		}
	}
	return nil
}

// LoadPolicy reads overrides from a YAML file mapping "tenant" or
// "tenant/account" to settings (durations like 45m, 720h). "" means defaults.
func LoadPolicy(path string) (Policy, error) {
	p := Policy{Default: DefaultSettings()}
	if path == "" {
		return p, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return p, fmt.Errorf("reading stitcher settings: %w", err)
	}
	if err := yaml.Unmarshal(b, &p.Overrides); err != nil {
		return p, fmt.Errorf("parsing stitcher settings %s: %w", path, err)
	}
	return p, p.Validate()
}
