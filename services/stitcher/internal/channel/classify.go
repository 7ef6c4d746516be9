package channel

import (
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Input is what a hit tells about where it came from.
type Input struct {
	URL                                                    string
	Referrer                                               string
	UTMSource, UTMMedium, UTMCampaign, UTMContent, UTMTerm string
	ClickIDs                                               map[string]string
	// OwnDomains are the account's own sites besides the page's registrable
	// domain (a shop on another domain, a booking widget's host): a referrer
	// on one of them, or a subdomain, is internal navigation.
	OwnDomains []string
}

// Source is a classified traffic source.
type Source struct {
	Channel    string `json:"channel"`
	Source     string `json:"source"`
	Medium     string `json:"medium"`
	Campaign   string `json:"campaign,omitempty"`
	Content    string `json:"content,omitempty"`
	Term       string `json:"term,omitempty"`
	ClickParam string `json:"click_param,omitempty"`
	ClickID    string `json:"click_id,omitempty"`
}

// IsDirect reports whether the source carries no campaign information: such a
// hit never starts a session of its own.
func (s Source) IsDirect() bool { return s.Channel == Direct }

// DirectSource is the source of a hit with no click id, UTM or external referrer.
var DirectSource = Source{Channel: Direct, Source: "(direct)", Medium: "(none)"}

// Classify decides the source of one hit, in this order:
//
//  1. a paid click id (gclid, yclid…; fbclid only with a paid utm_medium);
//  2. UTM parameters: any of utm_source, utm_medium, utm_campaign makes the
//     hit tagged, and tagged traffic is never direct (tagged_other at worst);
//  3. the referrer, unless it is internal: the page's own registrable domain
//     (public suffix list) or one of Input.OwnDomains;
//  4. an organic click id (fbclid without a paid medium, ysclid);
//  5. any other external referrer is a referral; else direct.
//
// Within each step a tenant's rules come before the defaults.
func (c *Classifier) Classify(in Input) Source {
	if in.UTMSource == "" && in.UTMMedium == "" && in.UTMCampaign == "" && len(in.ClickIDs) == 0 {
		in = withURLParams(in)
	}
	base := Source{Campaign: in.UTMCampaign, Content: in.UTMContent, Term: in.UTMTerm}
	var organic *clickRule
	for _, l := range c.layers {
		for i := range l.clicks {
			r := &l.clicks[i]
			id := in.ClickIDs[r.Param]
			if id == "" {
				continue
			}
			if r.paid(in.UTMMedium) {
				s := base
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
			if organic == nil {
				organic = r
				base.ClickParam, base.ClickID = r.Param, id
			}
		}
	}
	if in.UTMSource != "" || in.UTMMedium != "" || in.UTMCampaign != "" {
		s := base
		s.Source, s.Medium = strings.ToLower(in.UTMSource), strings.ToLower(in.UTMMedium)
		if ch := c.utmChannel(s.Source, s.Medium, in.UTMCampaign); ch != "" {
			s.Channel = ch
		} else if organic != nil {
			s.Channel = organic.OrganicChannel
		} else {
			s.Channel = TaggedOther
		}
		if s.Source == "" {
			s.Source = NotSet
		}
		return s
	}
	host, path := hostPath(in.Referrer)
	suffix := ""
	if host != "" {
		suffix, _ = publicsuffix.PublicSuffix(host)
	}
	external := host != "" && !internal(host, suffix, in.URL, in.OwnDomains)
	if external {
		for _, l := range c.layers {
			if i := l.hosts.lookup(host, suffix, path); i >= 0 {
				r := &l.refs[i]
				s := base
				s.Channel, s.Source, s.Medium = r.Channel, r.Source, r.Medium
				if s.Source == "" {
					s.Source = host
				}
				return s
			}
		}
	}
	if organic != nil {
		s := base
		s.Channel, s.Source, s.Medium = organic.OrganicChannel, organic.OrganicSource, organic.OrganicMedium
		return s
	}
	if external {
		s := base
		s.Channel, s.Source, s.Medium = Referral, host, Referral
		return s
	}
	return DirectSource
}

// utmChannel is the channel of the first UTM rule that matches, or "".
func (c *Classifier) utmChannel(source, medium, campaign string) string {
	for _, l := range c.layers {
		for _, r := range l.utm {
			if match(r.source, source) && match(r.medium, medium) && match(r.campaign, campaign) &&
				(r.category == "" || c.category[source] == r.category) {
				return r.channel
			}
		}
	}
	return ""
}

func match(re *regexp.Regexp, s string) bool { return re == nil || re.MatchString(s) }

// internal reports whether a referrer host (with its public suffix) is the
// site itself: the page's registrable domain (shop.example.co.uk and
// www.example.co.uk are one site; two customers' sites under one public
// suffix like github.io are not), or one of the account's own domains or
// their subdomains.
func internal(host, suffix, page string, own []string) bool {
	for _, d := range own {
		d = strings.TrimPrefix(strings.ToLower(d), "www.")
		if host == d || strings.HasSuffix(host, d) && len(host) > len(d) && host[len(host)-len(d)-1] == '.' {
			return true
		}
	}
	ph, _ := hostPath(page)
	if ph == "" {
		return false
	}
	if ph == host {
		return true
	}
	d := registrable(host, suffix)
	if d == "" || !strings.HasSuffix(ph, d) || isAddr(host) {
		return false // cheap: the page is not even under the referrer's registrable domain
	}
	ps, _ := publicsuffix.PublicSuffix(ph)
	return registrable(ph, ps) == d
}

// registrable is the registrable domain of host ("example.co.uk" of
// "shop.example.co.uk", public suffix "co.uk"), or "" when host is a public
// suffix itself.
func registrable(host, suffix string) string {
	if len(host) <= len(suffix)+1 || !strings.HasSuffix(host, suffix) || host[len(host)-len(suffix)-1] != '.' {
		return ""
	}
	rest := host[:len(host)-len(suffix)-1]
	return rest[strings.LastIndexByte(rest, '.')+1:] + "." + suffix
}

// isAddr reports whether host is an IP address: IPv6 has colons; no
// top-level domain is all digits, so an IPv4 address ends in one. Addresses
// have no registrable domain: 10.0.0.1 and 10.1.0.1 are not one site.
func isAddr(host string) bool {
	if strings.IndexByte(host, ':') >= 0 {
		return true
	}
	last := host[strings.LastIndexByte(host, '.')+1:]
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// hostPath is the lower-cased host of a URL without "www." and port, and
// its path.
func hostPath(raw string) (host, path string) {
	if raw == "" {
		return "", ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", ""
	}
	return strings.TrimPrefix(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), "www."), u.Path
}

// withURLParams fills UTM and click ids from the page URL's query when the
// hit did not carry them parsed.
func withURLParams(in Input) Input {
	i := strings.IndexByte(in.URL, '?')
	if i < 0 {
		return in
	}
	if q := in.URL[i+1:]; !strings.Contains(q, "utm_") && !strings.Contains(q, "clid") &&
		!strings.Contains(q, "braid") && !strings.Contains(q, "clkid") {
		return in // nothing to read: spare parsing the query of every page view
	}
	q, err := url.ParseQuery(in.URL[i+1:])
	if err != nil {
		return in
	}
	in.UTMSource, in.UTMMedium = q.Get("utm_source"), q.Get("utm_medium")
	in.UTMCampaign, in.UTMContent, in.UTMTerm = q.Get("utm_campaign"), q.Get("utm_content"), q.Get("utm_term")
	ids := map[string]string{}
	for _, p := range []string{"yclid", "gclid", "gbraid", "wbraid", "fbclid", "vkclid", "ttclid", "msclkid", "ysclid"} {
		if v := q.Get(p); v != "" {
			ids[p] = v
		}
	}
	in.ClickIDs = ids
	return in
}
