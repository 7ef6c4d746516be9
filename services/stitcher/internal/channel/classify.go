package channel

import (
	"net/url"
	"regexp"
	"strings"
)

// Input is what a hit tells about where it came from.
type Input struct {
	URL                                                    string
	Referrer                                               string
	UTMSource, UTMMedium, UTMCampaign, UTMContent, UTMTerm string
	ClickIDs                                               map[string]string
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

// Classify decides the source of one hit: click ids first, then UTM, then the
// referrer, else direct. A referrer on the page's own host is internal
// navigation and counts as direct.
func (c *Classifier) Classify(in Input) Source {
	if in.UTMSource == "" && in.UTMMedium == "" && len(in.ClickIDs) == 0 {
		in = withURLParams(in)
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
			if match(r.source, in.UTMSource) && match(r.medium, in.UTMMedium) {
				s := utm
				s.Channel, s.Source, s.Medium = r.channel, strings.ToLower(in.UTMSource), strings.ToLower(in.UTMMedium)
				return s
			}
		}
	}
	host := hostOf(in.Referrer)
	if host == "" || host == hostOf(in.URL) {
		return DirectSource
	}
	for _, r := range c.refs {
		if r.matchHost(host) {
			return Source{Channel: r.Channel, Source: r.Source, Medium: r.Medium}
		}
	}
	return Source{Channel: "referral", Source: host, Medium: "referral"}
}

func match(re *regexp.Regexp, s string) bool { return re == nil || re.MatchString(s) }

func (r refRule) matchHost(host string) bool {
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

// hostOf is the lower-cased host of a URL without "www." and port.
func hostOf(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
}

// withURLParams fills UTM and click ids from the page URL's query when the
// hit did not carry them parsed.
func withURLParams(in Input) Input {
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
