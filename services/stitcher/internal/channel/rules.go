// Package channel decides the marketing channel of a session from its click
// ids, UTM parameters and referrer. The decision rules are data: a YAML
// document embedded as the default (Russian and global markets) that a tenant
// can extend or replace with its own.
package channel

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Channel names every deployment knows. Rules may introduce others.
const (
	Direct = "direct"
	None   = "(none)" // a lead with no touchpoint
)

//go:embed default_rules.yaml
var defaultRules []byte

// Rules is the YAML form of a rule set.
type Rules struct {
	// Replace drops the default rules instead of evaluating them after these.
	Replace   bool           `yaml:"replace"`
	ClickIDs  []ClickIDRule  `yaml:"click_ids"`
	UTM       []UTMRule      `yaml:"utm"`
	Referrers []ReferrerRule `yaml:"referrers"`
}

// ClickIDRule maps an ad click id URL parameter to a paid channel.
type ClickIDRule struct {
	Param   string `yaml:"param"`
	Channel string `yaml:"channel"`
	Source  string `yaml:"source"`
	Medium  string `yaml:"medium"`
	// UTMSource, when it matches the hit's utm_source, picks UTMChannel
	// instead (fbclid is shared by Facebook and Instagram ads).
	UTMSource  string `yaml:"utm_source"`
	UTMChannel string `yaml:"utm_channel"`
}

// UTMRule maps utm_source/utm_medium patterns (both must match; an empty
// pattern matches anything) to a channel.
type UTMRule struct {
	Source  string `yaml:"source"`
	Medium  string `yaml:"medium"`
	Channel string `yaml:"channel"`
}

// ReferrerRule maps referrer hosts (exact or any subdomain of them), or a
// host pattern, to a channel.
type ReferrerRule struct {
	Hosts       []string `yaml:"hosts"`
	HostPattern string   `yaml:"host_pattern"`
	Channel     string   `yaml:"channel"`
	Source      string   `yaml:"source"`
	Medium      string   `yaml:"medium"`
}

// ParseRules reads a YAML rule set.
func ParseRules(b []byte) (Rules, error) {
	var r Rules
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("parsing channel rules: %w", err)
	}
	return r, nil
}

// DefaultRules are the embedded rules.
func DefaultRules() Rules {
	r, err := ParseRules(defaultRules)
	if err != nil {
		panic(err) // the embedded file is tested; this cannot happen in a build that passed its tests
	}
	return r
}

type clickRule struct {
	ClickIDRule
	utmSource *regexp.Regexp
}

type utmRule struct {
	source, medium *regexp.Regexp
	channel        string
}

type refRule struct {
	hosts   map[string]bool
	pattern *regexp.Regexp
	ReferrerRule
}

// Classifier is a compiled rule set. It is safe for concurrent use.
type Classifier struct {
	clicks []clickRule
	utm    []utmRule
	refs   []refRule
}

// Compile builds a classifier from tenant rules layered over the defaults
// (unless r.Replace).
func Compile(r Rules) (*Classifier, error) {
	all := r
	if !r.Replace {
		d := DefaultRules()
		all.ClickIDs = append(append([]ClickIDRule{}, r.ClickIDs...), d.ClickIDs...)
		all.UTM = append(append([]UTMRule{}, r.UTM...), d.UTM...)
		all.Referrers = append(append([]ReferrerRule{}, r.Referrers...), d.Referrers...)
	}
	c := &Classifier{}
	for i, cr := range all.ClickIDs {
		if cr.Param == "" || cr.Channel == "" {
			return nil, fmt.Errorf("channel rules: click_ids[%d]: param and channel required", i)
		}
		rule := clickRule{ClickIDRule: cr}
		if cr.UTMSource != "" {
			re, err := compile(cr.UTMSource)
			if err != nil {
				return nil, fmt.Errorf("channel rules: click_ids[%d].utm_source: %w", i, err)
			}
			rule.utmSource = re
		}
		c.clicks = append(c.clicks, rule)
	}
	for i, ur := range all.UTM {
		if ur.Channel == "" {
			return nil, fmt.Errorf("channel rules: utm[%d]: channel required", i)
		}
		src, err := compile(ur.Source)
		if err != nil {
			return nil, fmt.Errorf("channel rules: utm[%d].source: %w", i, err)
		}
		med, err := compile(ur.Medium)
		if err != nil {
			return nil, fmt.Errorf("channel rules: utm[%d].medium: %w", i, err)
		}
		c.utm = append(c.utm, utmRule{source: src, medium: med, channel: ur.Channel})
	}
	for i, rr := range all.Referrers {
		if rr.Channel == "" || (len(rr.Hosts) == 0 && rr.HostPattern == "") {
			return nil, fmt.Errorf("channel rules: referrers[%d]: channel and hosts or host_pattern required", i)
		}
		rule := refRule{ReferrerRule: rr, hosts: map[string]bool{}}
		for _, h := range rr.Hosts {
			rule.hosts[strings.ToLower(h)] = true
		}
		if rr.HostPattern != "" {
			re, err := compile(rr.HostPattern)
			if err != nil {
				return nil, fmt.Errorf("channel rules: referrers[%d].host_pattern: %w", i, err)
			}
			rule.pattern = re
		}
		c.refs = append(c.refs, rule)
	}
	return c, nil
}

func compile(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, nil
	}
	return regexp.Compile("(?i)" + p)
}
