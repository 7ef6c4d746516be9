package channel

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// layer is one compiled rule set: a tenant's, or the defaults.
type layer struct {
	clicks []clickRule
	utm    []utmRule
	refs   []ReferrerRule
	hosts  hostIndex
	// category of each utm_source value naming a site: its host, its
	// source name, an alias. The first rule to name one keeps it, so the
	// hand rules' youtube is video though Matomo lists YouTube as social.
	category map[string]string
}

type clickRule struct {
	ClickIDRule
	utmSource, paidMedium *regexp.Regexp
}

type utmRule struct {
	source, medium, campaign *regexp.Regexp
	category                 string
	channel                  string
}

// paid reports whether a hit with this click id and utm_medium is a paid click.
func (r clickRule) paid(medium string) bool {
	if r.Channel == "" {
		return false
	}
	return r.paidMedium == nil || r.paidMedium.MatchString(medium)
}

func compileLayer(r Rules) (*layer, error) {
	l := &layer{refs: r.Referrers, category: map[string]string{}}
	for i, cr := range r.ClickIDs {
		if cr.Param == "" || (cr.Channel == "" && cr.OrganicChannel == "") {
			return nil, fmt.Errorf("channel rules: click_ids[%d]: param and channel or organic_channel required", i)
		}
		if cr.PaidMedium != "" && cr.OrganicChannel == "" {
			return nil, fmt.Errorf("channel rules: click_ids[%d]: paid_medium needs organic_channel", i)
		}
		rule := clickRule{ClickIDRule: cr}
		var err error
		if rule.utmSource, err = compile(cr.UTMSource); err != nil {
			return nil, fmt.Errorf("channel rules: click_ids[%d].utm_source: %w", i, err)
		}
		if rule.paidMedium, err = compile(cr.PaidMedium); err != nil {
			return nil, fmt.Errorf("channel rules: click_ids[%d].paid_medium: %w", i, err)
		}
		l.clicks = append(l.clicks, rule)
	}
	for i, ur := range r.UTM {
		if ur.Channel == "" {
			return nil, fmt.Errorf("channel rules: utm[%d]: channel required", i)
		}
		rule := utmRule{category: ur.SourceCategory, channel: ur.Channel}
		var err error
		if rule.source, err = compile(ur.Source); err != nil {
			return nil, fmt.Errorf("channel rules: utm[%d].source: %w", i, err)
		}
		if rule.medium, err = compile(ur.Medium); err != nil {
			return nil, fmt.Errorf("channel rules: utm[%d].medium: %w", i, err)
		}
		if rule.campaign, err = compile(ur.Campaign); err != nil {
			return nil, fmt.Errorf("channel rules: utm[%d].campaign: %w", i, err)
		}
		l.utm = append(l.utm, rule)
	}
	l.hosts = hostIndex{exact: map[string][]target{}, wild: map[string][]target{}}
	for i, rr := range r.Referrers {
		if rr.Channel == "" || (len(rr.Hosts) == 0 && rr.HostPattern == "") {
			return nil, fmt.Errorf("channel rules: referrers[%d]: channel and hosts or host_pattern required", i)
		}
		for _, h := range rr.Hosts {
			if err := l.hosts.add(h, i); err != nil {
				return nil, fmt.Errorf("channel rules: referrers[%d]: %w", i, err)
			}
		}
		if rr.HostPattern != "" {
			re, err := compile(rr.HostPattern)
			if err != nil {
				return nil, fmt.Errorf("channel rules: referrers[%d].host_pattern: %w", i, err)
			}
			l.hosts.patterns = append(l.hosts.patterns, patternTarget{re: re, target: target{rule: i}})
		}
		if rr.Category != "" {
			claim := func(n string) {
				if n = strings.TrimPrefix(strings.ToLower(n), "www."); n != "" && l.category[n] == "" {
					l.category[n] = rr.Category
				}
			}
			claim(rr.Source)
			for _, a := range rr.Aliases {
				claim(a)
			}
			for _, h := range rr.Hosts {
				if !strings.ContainsAny(h, "{}/") {
					claim(h)
				}
			}
		}
	}
	l.hosts.sort()
	return l, nil
}

func compile(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, nil
	}
	return regexp.Compile("(?i)" + p)
}

// hostIndex finds the referrer rule of a host in a few map look-ups, whatever
// the number of hosts: the generated lists hold close to a thousand.
type hostIndex struct {
	exact    map[string][]target // host (and its subdomains) → rules
	wild     map[string][]target // "google" of "google.{}" → rules, for any public suffix
	patterns []patternTarget     // "images.{}.ask.com" and host_pattern, tried last in rule order
}

// target is one rule for a host, limited to referrers under path if set.
type target struct {
	path string
	rule int
}

type patternTarget struct {
	re *regexp.Regexp
	target
}

func (x *hostIndex) add(h string, rule int) error {
	h = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(h)), "www.")
	host, path, _ := strings.Cut(h, "/")
	if path != "" {
		path = "/" + strings.TrimSuffix(path, "/")
	}
	t := target{path: path, rule: rule}
	host = strings.TrimPrefix(host, "{}.") // a subdomain of host: the walk up finds it
	stem, anySuffix := strings.CutSuffix(host, ".{}")
	switch {
	case host == "":
		return fmt.Errorf("host %q: empty", h)
	case strings.Contains(stem, "{}"):
		// "{}" inside ("images.{}.ask.com"): any one label there.
		expr := strings.ReplaceAll(regexp.QuoteMeta(stem), `\{\}`, `[^.]+`)
		if anySuffix {
			expr += `\..+`
		}
		re, err := regexp.Compile("^" + expr + "$")
		if err != nil {
			return fmt.Errorf("host %q: %w", h, err)
		}
		x.patterns = append(x.patterns, patternTarget{re: re, target: t})
	case anySuffix:
		x.wild[stem] = append(x.wild[stem], t)
	default:
		x.exact[host] = append(x.exact[host], t)
	}
	return nil
}

// sort puts a host's path-limited rules before its host-wide ones, longest
// path first, keeping rule order otherwise.
func (x *hostIndex) sort() {
	for _, m := range []map[string][]target{x.exact, x.wild} {
		for _, ts := range m {
			sort.SliceStable(ts, func(i, j int) bool { return len(ts[i].path) > len(ts[j].path) })
		}
	}
}

// lookup returns the rule of a referrer, or -1. The most specific host wins:
// mail.google.com's rule before google.com's; at one host, a path-limited
// rule before a host-wide one, then the first rule.
func (x *hostIndex) lookup(host, suffix, path string) int {
	for h := host; h != "" && h != suffix; {
		if r := pick(x.exact[h], path); r >= 0 {
			return r
		}
		if len(x.wild) > 0 && len(h) > len(suffix)+1 && strings.HasSuffix(h, suffix) && h[len(h)-len(suffix)-1] == '.' {
			if r := pick(x.wild[h[:len(h)-len(suffix)-1]], path); r >= 0 {
				return r
			}
		}
		_, rest, ok := strings.Cut(h, ".")
		if !ok {
			break
		}
		h = rest
	}
	for _, p := range x.patterns {
		if p.re.MatchString(host) && underPath(path, p.path) {
			return p.rule
		}
	}
	return -1
}

func pick(ts []target, path string) int {
	for _, t := range ts {
		if underPath(path, t.path) {
			return t.rule
		}
	}
	return -1
}

func underPath(path, prefix string) bool {
	if prefix == "" {
		return true
	}
	return path == prefix || strings.HasPrefix(path, prefix) && path[len(prefix)] == '/'
}
