package channel

import (
	"strings"
	"sync"
	"testing"
)

// TestMatomoSources is generated from the list the defaults are generated
// from: every host of every AI assistant, social network and search engine
// in default_sources.yaml (Matomo's searchengine-and-social-list) classifies
// as that entry — "{}" filled in as the list means it — except where a hand
// rule of default_rules.yaml deliberately says otherwise (overrides below,
// each a decision written down in docs/analytics.md).
func TestMatomoSources(t *testing.T) {
	gen, err := ParseRules(defaultSources)
	if err != nil {
		t.Fatal(err)
	}
	if len(gen.Referrers) < 350 {
		t.Fatalf("default_sources.yaml has %d entries: truncated?", len(gen.Referrers))
	}
	// referrer host → channel/source where a hand rule wins over the list.
	overrides := map[string]string{
		"yabs.yandex.de":          "yandex_direct/yandex",             // Yandex Direct's click redirector, paid
		"yabs.yandex.co.uk":       "yandex_direct/yandex",             //
		"google.com/products/x":   "organic_shopping/google_shopping", // GA4: Organic Shopping
		"google.de/products/x":    "organic_shopping/google_shopping", //
		"google.co.uk/products/x": "organic_shopping/google_shopping", //
		"youtube.com":             "organic_video/youtube",            // GA4: Organic Video
		"vimeo.com":               "organic_video/vimeo",              //
	}
	classifier := mustCompile(t, Rules{})
	n, used := 0, map[string]bool{}
	for _, r := range gen.Referrers {
		for _, h := range r.Hosts {
			for _, ref := range expand(h) {
				n++
				want := r.Channel + "/" + r.Source
				if o, ok := overrides[ref]; ok {
					want = o
					used[ref] = true
				} else if hand, ok := handRule(ref); ok {
					want = hand
				}
				s := classifier.Classify(Input{URL: "https://shop.example.ru/", Referrer: "https://" + ref})
				if got := s.Channel + "/" + s.Source; got != want {
					t.Errorf("%s (%s %q): got %s, want %s", ref, r.Category, r.Name, got, want)
				}
			}
		}
	}
	for ref := range overrides {
		if !used[ref] {
			t.Errorf("override %s: the list has no such host any more", ref)
		}
	}
	t.Logf("%d referrers from %d entries", n, len(gen.Referrers))
}

// handRule is the hand-kept rule listing exactly this referrer host, which
// keeps its source name (reports already use "yandex", "vk"…): the same
// channel as the generated entry, checked by TestHandRulesAgreeWithMatomo.
func handRule(ref string) (string, bool) {
	for _, r := range hand().Referrers {
		for _, h := range r.Hosts {
			if h == ref {
				return r.Channel + "/" + r.Source, true
			}
		}
	}
	return "", false
}

var hand = sync.OnceValue(func() Rules {
	r, err := ParseRules(defaultRules)
	if err != nil {
		panic(err)
	}
	return r
})

// TestHandRulesAgreeWithMatomo: where a hand rule lists a host the generated
// list also has, both say the same channel — the hand rule only renames the
// source — unless the host is one of the deliberate overrides.
func TestHandRulesAgreeWithMatomo(t *testing.T) {
	gen, err := ParseRules(defaultSources)
	if err != nil {
		t.Fatal(err)
	}
	genChannel := map[string]string{}
	for _, r := range gen.Referrers {
		for _, h := range r.Hosts {
			genChannel[h] = r.Channel
		}
	}
	deliberate := map[string]bool{
		"yabs.yandex.{}": true, "youtube.com": true, "m.youtube.com": true, "youtu.be": true, "vimeo.com": true,
		"google.{}/products": true, "google.com/products": true,
		"web.telegram.org": true, // our telegram channel (GA4: Organic Social)
	}
	for _, r := range hand().Referrers {
		for _, h := range r.Hosts {
			if ch, ok := genChannel[h]; ok && ch != r.Channel && !deliberate[h] {
				t.Errorf("%s: hand rule says %s, Matomo's list %s", h, r.Channel, ch)
			}
		}
	}
}

// expand turns one host of the list into referrer hosts (and paths) it
// stands for: "{}" as a subdomain, inside, or as any public suffix.
func expand(h string) []string {
	host, path, _ := strings.Cut(h, "/")
	if path != "" {
		path = "/" + path + "/x" // a page under a path-limited host
	}
	if strings.HasPrefix(host, "{}.") {
		host = "de." + host[3:]
	}
	fills := []string{""}
	if strings.HasSuffix(host, ".{}") {
		host = strings.TrimSuffix(host, "{}")
		fills = []string{"de", "co.uk"}
	}
	host = strings.ReplaceAll(host, "{}", "de") // "images.{}.ask.com": one label
	var out []string
	for _, f := range fills {
		out = append(out, host+f+path)
	}
	return out
}
