package channel

import (
	"strings"
	"testing"
)

// FuzzClassify feeds hostile page URLs, referrers, UTM values and click ids
// (they all come from the visitor's browser) to the default classifier. It
// must not panic and must keep its promises: a channel always; tagged
// traffic or a click id never direct; direct only as DirectSource; the
// same answer twice; a referrer on the page's own host never a referral.
func FuzzClassify(f *testing.F) {
	seeds := []struct{ url, ref, src, med, camp, param, id, own string }{
		{"https://shop.example.ru/?utm_medium=sms", "", "", "", "", "", "", ""},
		{"https://shop.example.ru/", "https://www.google.co.uk/", "", "", "", "", "", ""},
		{"https://shop.example.ru/", "https://x.com/i/grok", "", "", "", "", "", ""},
		{"https://shop.example.ru/", "https://l.facebook.com/", "", "", "", "fbclid", "abc", ""},
		{"https://shop.example.ru/", "", "fb", "paid", "", "fbclid", "abc", ""},
		{"https://shop.example.ru/", "https://blog.example.ru/", "", "", "", "", "", "example-spa.com"},
		{"https://a.github.io/", "https://b.github.io/", "", "", "", "", "", ""},
		{"http://[::1]:8080/", "http://[::1]:9090/x", "", "", "", "", "", ""},
		{"%zz", "android-app://com.google.android.googlequicksearchbox/https/www.google.com", "", "", "", "", "", ""},
		{"https://shop.example.ru/", "https://images.de.ask.com/", "E-Mail", "", "cross-network", "ysclid", "1", ""},
		{"https://shop.example.ru/", "https://..com/", "", "", "", "", "", "."},
	}
	for _, s := range seeds {
		f.Add(s.url, s.ref, s.src, s.med, s.camp, s.param, s.id, s.own)
	}
	c := mustCompile(f, Rules{})
	f.Fuzz(func(t *testing.T, page, ref, src, med, camp, param, id, own string) {
		in := Input{URL: page, Referrer: ref, UTMSource: src, UTMMedium: med, UTMCampaign: camp}
		if param != "" && id != "" {
			in.ClickIDs = map[string]string{param: id}
		}
		if own != "" {
			in.OwnDomains = strings.Split(own, ",")
		}
		s := c.Classify(in)
		if s.Channel == "" {
			t.Fatalf("no channel: %+v", s)
		}
		if s != c.Classify(in) {
			t.Fatalf("two answers for %+v", in)
		}
		if s.IsDirect() {
			if s != DirectSource {
				t.Fatalf("direct with more than DirectSource: %+v", s)
			}
			if src != "" || med != "" || camp != "" {
				t.Fatalf("tagged traffic is direct: %+v", in)
			}
		}
		if h, _ := hostPath(ref); h != "" && s.Channel == Referral && s.Source == h {
			if ph, _ := hostPath(page); ph == h && src == "" && med == "" && camp == "" {
				t.Fatalf("the page's own host is a referral: %+v", in)
			}
		}
	})
}
