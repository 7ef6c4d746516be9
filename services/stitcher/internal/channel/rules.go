// Package channel decides the marketing channel of a session from its click
// ids, UTM parameters and referrer. The decision rules are data: YAML
// documents embedded as the defaults — hand-kept rules (default_rules.yaml)
// followed by hosts generated from Matomo's searchengine-and-social-list
// (default_sources.yaml, scripts/gensources) — that a tenant can extend or
// replace with its own. The vocabulary follows GA4's default channel groups
// where ours had no name (docs/analytics.md maps each one).
package channel

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Channel names every deployment knows. Rules may introduce others.
const (
	Direct = "direct"
	None   = "(none)" // a lead with no touchpoint
	// TaggedOther is the channel of tagged traffic no rule knows: a hit
	// with UTM parameters is never direct.
	TaggedOther = "tagged_other"
	Referral    = "referral"
	// NotSet is the source or medium of tagged traffic that left it out.
	NotSet = "(not set)"
)

var (
	//go:embed default_rules.yaml
	defaultRules []byte
	//go:embed default_sources.yaml
	defaultSources []byte
)

// Rules is the YAML form of a rule set.
type Rules struct {
	// Replace drops the default rules instead of evaluating them after these.
	Replace   bool           `yaml:"replace"`
	ClickIDs  []ClickIDRule  `yaml:"click_ids"`
	UTM       []UTMRule      `yaml:"utm"`
	Referrers []ReferrerRule `yaml:"referrers"`
}

// ClickIDRule maps an ad click id URL parameter to a channel. Platforms that
// append their id to ad clicks only (gclid, yclid, msclkid) need Channel
// alone. One that appends it to every outbound link (Meta's fbclid) sets
// PaidMedium: the click is paid only when utm_medium matches it; otherwise
// the UTM and referrer rules decide, and Organic* is the answer when they
// find nothing better than direct or a plain referral. A rule with only
// Organic* is an organic click id (Yandex search's ysclid).
type ClickIDRule struct {
	Param   string `yaml:"param"`
	Channel string `yaml:"channel"`
	Source  string `yaml:"source"`
	Medium  string `yaml:"medium"`
	// UTMSource, when it matches the hit's utm_source, picks UTMChannel
	// instead (fbclid is shared by Facebook and Instagram ads).
	UTMSource  string `yaml:"utm_source"`
	UTMChannel string `yaml:"utm_channel"`

	PaidMedium     string `yaml:"paid_medium"`
	OrganicChannel string `yaml:"organic_channel"`
	OrganicSource  string `yaml:"organic_source"`
	OrganicMedium  string `yaml:"organic_medium"`
}

// UTMRule maps utm_source/utm_medium/utm_campaign patterns (all must match;
// an empty pattern matches anything, a missing parameter is "") to a
// channel. SourceCategory requires utm_source to name a site of that
// category: a referrer rule's source, host or alias (GA4's "source matches
// a list of search sites").
type UTMRule struct {
	Source         string `yaml:"source"`
	Medium         string `yaml:"medium"`
	Campaign       string `yaml:"campaign"`
	SourceCategory string `yaml:"source_category"`
	Channel        string `yaml:"channel"`
}

// ReferrerRule maps referrer hosts to a channel. A host matches itself and
// its subdomains ("www." is ignored); "{}" stands for any label ("{}.bing.com")
// or, last, for any public suffix ("google.{}" is google.de and google.co.uk);
// "host/path" matches referrers whose path starts with /path. HostPattern is
// a regular expression on the host, tried after every listed host.
type ReferrerRule struct {
	Hosts       []string `yaml:"hosts"`
	HostPattern string   `yaml:"host_pattern"`
	Channel     string   `yaml:"channel"`
	Source      string   `yaml:"source"`
	Medium      string   `yaml:"medium"`
	// Category (search, social, video, shopping, ai, email…) puts the
	// rule's source, hosts and Aliases in the set UTM rules name.
	Category string   `yaml:"category"`
	Aliases  []string `yaml:"aliases"`
	Name     string   `yaml:"name"` // the source data's display name, for people
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

// DefaultRules are the embedded rules: the hand-kept ones, then the
// generated hosts.
func DefaultRules() Rules {
	r, err := ParseRules(defaultRules)
	if err != nil {
		panic(err) // the embedded files are tested; this cannot happen in a build that passed its tests
	}
	g, err := ParseRules(defaultSources)
	if err != nil {
		panic(err)
	}
	r.Referrers = append(r.Referrers, g.Referrers...)
	return r
}

// defaultLayer compiles the defaults once: every tenant shares them.
var defaultLayer = sync.OnceValues(func() (*layer, error) { return compileLayer(DefaultRules()) })

// Classifier is a compiled rule set: the tenant's layer, then the
// defaults'. It is safe for concurrent use.
type Classifier struct {
	layers []*layer
	// category of a utm_source value naming a site, over every layer (the
	// tenant's claim first).
	category map[string]string
}

// Compile builds a classifier from tenant rules layered over the defaults
// (unless r.Replace). A tenant's rule wins over a default one at every step.
func Compile(r Rules) (*Classifier, error) {
	own, err := compileLayer(r)
	if err != nil {
		return nil, err
	}
	c := &Classifier{layers: []*layer{own}}
	if !r.Replace {
		d, err := defaultLayer()
		if err != nil {
			return nil, err
		}
		c.layers = append(c.layers, d)
	}
	c.category = map[string]string{}
	for _, l := range c.layers {
		for n, cat := range l.category {
			if c.category[n] == "" {
				c.category[n] = cat
			}
		}
	}
	return c, nil
}
