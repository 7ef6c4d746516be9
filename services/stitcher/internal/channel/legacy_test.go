package channel

// The classifier as it was before the rules were generated from public
// lists (commit 1a4e6d6), kept only as BenchmarkClassifyLegacy's baseline:
// classification cost per event next to today's, measured in the same run.

import (
	_ "embed"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

//go:embed testdata/legacy_rules.yaml
var legacyRules []byte

func legacyDefaultRules() Rules {
	r, err := ParseRules(legacyRules)
	if err != nil {
		panic(err)
	}
	return r
}

func legacyMatch(re *regexp.Regexp, s string) bool { return re == nil || re.MatchString(s) }

func legacyWithURLParams(in Input) Input {
	i := strings.IndexByte(in.URL, '?')
	if i < 0 {
		return in
	}
	q, err := url.ParseQuery(in.URL[i+1:])
	if err != nil {
		return in
	}
	in.UTMSource, in.UTMMedium = q.Get("utm_source"), q.Get("utm_medium")
	in.UTMCampaign, in.UTMContent, in.UTMTerm = q.Get("utm_campaign"), q.Get("utm_content"), q.Get("utm_term")
	ids := map[string]string{}
	for _, p := range []string{"yclid", "gclid", "gbraid", "wbraid", "fbclid", "vkclid", "ttclid", "msclkid"} {
		if v := q.Get(p); v != "" {
			ids[p] = v
		}
	}
	in.ClickIDs = ids
	return in
}

type legacyClickRule struct {
	ClickIDRule
	utmSource *regexp.Regexp
}

type legacyUTMRule struct {
	source, medium *regexp.Regexp
	channel        string
}

type legacyRefRule struct {
	hosts   map[string]bool
	pattern *regexp.Regexp
	ReferrerRule
}

// legacyClassifier is a compiled rule set. It is safe for concurrent use.

type legacyClassifier struct {
	clicks []legacyClickRule
	utm    []legacyUTMRule
	refs   []legacyRefRule
}

// Compile builds a classifier from tenant rules layered over the defaults
// (unless r.Replace).
func legacyCompile(r Rules) (*legacyClassifier, error) {
	all := r
	if !r.Replace {
		d := legacyDefaultRules()
		all.ClickIDs = append(append([]ClickIDRule{}, r.ClickIDs...), d.ClickIDs...)
		all.UTM = append(append([]UTMRule{}, r.UTM...), d.UTM...)
		all.Referrers = append(append([]ReferrerRule{}, r.Referrers...), d.Referrers...)
	}
	c := &legacyClassifier{}
	for i, cr := range all.ClickIDs {
		if cr.Param == "" || cr.Channel == "" {
			return nil, fmt.Errorf("channel rules: click_ids[%d]: param and channel required", i)
		}
		rule := legacyClickRule{ClickIDRule: cr}
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
		c.utm = append(c.utm, legacyUTMRule{source: src, medium: med, channel: ur.Channel})
	}
	for i, rr := range all.Referrers {
		if rr.Channel == "" || (len(rr.Hosts) == 0 && rr.HostPattern == "") {
			return nil, fmt.Errorf("channel rules: referrers[%d]: channel and hosts or host_pattern required", i)
		}
		rule := legacyRefRule{ReferrerRule: rr, hosts: map[string]bool{}}
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

func (c *legacyClassifier) Classify(in Input) Source {
	if in.UTMSource == "" && in.UTMMedium == "" && len(in.ClickIDs) == 0 {
		in = legacyWithURLParams(in)
	}
	utm := Source{Campaign: in.UTMCampaign, Content: in.UTMContent, Term: in.UTMTerm}
	for _, r := range c.clicks {
		id := in.ClickIDs[r.Param]
		if id == "" {
			continue
		}
		s := utm
		s.Channel, s.Source, s.Medium, s.ClickParam, s.ClickID = r.Channel, r.Source, r.Medium, r.Param, id
		if r.utmSource != nil && r.utmSource.MatchString(in.UTMSource) {
			s.Channel = r.UTMChannel
		}
		if in.UTMSource != "" {
			s.Source = strings.ToLower(in.UTMSource)
		}
		if in.UTMMedium != "" {
			s.Medium = strings.ToLower(in.UTMMedium)
		}
		return s
	}
	if in.UTMSource != "" || in.UTMMedium != "" {
		for _, r := range c.utm {
			if legacyMatch(r.source, in.UTMSource) && legacyMatch(r.medium, in.UTMMedium) {
				s := utm
				s.Channel, s.Source, s.Medium = r.channel, strings.ToLower(in.UTMSource), strings.ToLower(in.UTMMedium)
				return s
			}
		}
	}
	host := legacyHostOf(in.Referrer)
	if host == "" || host == legacyHostOf(in.URL) {
		return DirectSource
	}
	for _, r := range c.refs {
		if r.legacyMatchHost(host) {
			return Source{Channel: r.Channel, Source: r.Source, Medium: r.Medium}
		}
	}
	return Source{Channel: "referral", Source: host, Medium: "referral"}
}

func (r legacyRefRule) legacyMatchHost(host string) bool {
	for h := host; h != ""; {
		if r.hosts[h] {
			return true
		}
		_, rest, ok := strings.Cut(h, ".")
		if !ok {
			break
		}
		h = rest
	}
	return r.pattern != nil && r.pattern.MatchString(host)
}

// legacyHostOf is the lower-cased host of a URL without "www." and port.
func legacyHostOf(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
}
