package channel

import "testing"

func TestClassifyDefaults(t *testing.T) {
	c, err := Compile(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	const page = "https://shop.example.ru/"
	cases := []struct {
		name string
		in   Input
		want string // channel/source/medium
	}{
		{"yclid", Input{URL: page, ClickIDs: map[string]string{"yclid": "1"}}, "yandex_direct/yandex/cpc"},
		{"gclid", Input{URL: page, ClickIDs: map[string]string{"gclid": "g"}}, "google_ads/google/cpc"},
		{"gbraid", Input{URL: page, ClickIDs: map[string]string{"gbraid": "g"}}, "google_ads/google/cpc"},
		{"wbraid", Input{URL: page, ClickIDs: map[string]string{"wbraid": "g"}}, "google_ads/google/cpc"},
		{"vkclid", Input{URL: page, ClickIDs: map[string]string{"vkclid": "v"}}, "vk_ads/vk/cpc"},
		{"fbclid", Input{URL: page, ClickIDs: map[string]string{"fbclid": "f"}}, "facebook_ads/facebook/cpc"},
		{"fbclid instagram", Input{URL: page, UTMSource: "instagram", ClickIDs: map[string]string{"fbclid": "f"}}, "instagram_ads/instagram/cpc"},
		{"yclid in url", Input{URL: page + "?yclid=77&utm_campaign=spring"}, "yandex_direct/yandex/cpc"},
		{"utm yandex cpc", Input{URL: page, UTMSource: "yandex", UTMMedium: "cpc"}, "yandex_direct/yandex/cpc"},
		{"utm google cpc", Input{URL: page, UTMSource: "Google", UTMMedium: "CPC"}, "google_ads/google/cpc"},
		{"utm vk", Input{URL: page, UTMSource: "vk", UTMMedium: "paid"}, "vk_ads/vk/paid"},
		{"utm telegram", Input{URL: page, UTMSource: "telegram", UTMMedium: "post"}, "telegram/telegram/post"},
		{"utm email", Input{URL: page, UTMSource: "unisender", UTMMedium: "email"}, "email/unisender/email"},
		{"utm other paid", Input{URL: page, UTMSource: "avito", UTMMedium: "cpc"}, "paid_other/avito/cpc"},
		{"utm unknown", Input{URL: page, UTMSource: "partner1"}, "tagged_other/partner1/"},
		{"yandex organic", Input{URL: page, Referrer: "https://yandex.ru/search/?text=x"}, "organic/yandex/organic"},
		{"google organic", Input{URL: page, Referrer: "https://www.google.com/"}, "organic/google/organic"},
		{"google.com.br organic", Input{URL: page, Referrer: "https://www.google.com.br/"}, "organic/google/organic"},
		{"bing", Input{URL: page, Referrer: "https://www.bing.com/search?q=x"}, "organic/bing/organic"},
		{"mail.ru", Input{URL: page, Referrer: "https://go.mail.ru/search?q=x"}, "organic/mail.ru/organic"},
		{"duckduckgo", Input{URL: page, Referrer: "https://duckduckgo.com/"}, "organic/duckduckgo/organic"},
		{"webmail", Input{URL: page, Referrer: "https://e.mail.ru/inbox"}, "email/webmail/email"},
		{"telegram ref", Input{URL: page, Referrer: "https://t.me/channel/12"}, "telegram/telegram/social"},
		{"vk social", Input{URL: page, Referrer: "https://away.vk.com/away.php"}, "social/vk/social"},
		{"instagram social", Input{URL: page, Referrer: "https://l.instagram.com/"}, "social/instagram/social"},
		{"referral", Input{URL: page, Referrer: "https://blog.partner.org/post"}, "referral/blog.partner.org/referral"},
		{"internal", Input{URL: page + "cart", Referrer: "https://www.shop.example.ru/"}, "direct/(direct)/(none)"},
		{"direct", Input{URL: page}, "direct/(direct)/(none)"},
	}
	for _, tc := range cases {
		s := c.Classify(tc.in)
		if got := s.Channel + "/" + s.Source + "/" + s.Medium; got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestTenantOverride(t *testing.T) {
	r, err := ParseRules([]byte("utm:\n  - {source: '^avito$', channel: avito}\nreferrers:\n  - {hosts: [yandex.ru], channel: yandex_maps}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := NewCatalog(map[string]Rules{"acme": r})
	if err != nil {
		t.Fatal(err)
	}
	in := Input{URL: "https://a.ru/", UTMSource: "avito", UTMMedium: "cpc"}
	if got := cat.For("acme").Classify(in).Channel; got != "avito" {
		t.Errorf("tenant rule: got %s", got)
	}
	if got := cat.For("other").Classify(in).Channel; got != "paid_other" {
		t.Errorf("default for other tenant: got %s", got)
	}
	if got := cat.For("acme").Classify(Input{URL: "https://a.ru/", Referrer: "https://maps.yandex.ru/"}).Channel; got != "yandex_maps" {
		t.Errorf("tenant referrer rule: got %s", got)
	}
	if got := cat.For("acme").Classify(Input{URL: "https://a.ru/", ClickIDs: map[string]string{"gclid": "x"}}).Channel; got != "google_ads" {
		t.Errorf("defaults still apply after tenant rules: got %s", got)
	}
	replace, _ := ParseRules([]byte("replace: true\nutm:\n  - {source: '.+', channel: tagged}\n"))
	cl, err := Compile(replace)
	if err != nil {
		t.Fatal(err)
	}
	if got := cl.Classify(Input{URL: "https://a.ru/", ClickIDs: map[string]string{"gclid": "x"}}).Channel; got != Direct {
		t.Errorf("replace drops defaults: got %s", got)
	}
}

func TestBadRules(t *testing.T) {
	if _, err := ParseRules([]byte("utm:\n  - {sorce: x}\n")); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := Compile(Rules{UTM: []UTMRule{{Source: "(", Channel: "x"}}}); err == nil {
		t.Error("bad regexp accepted")
	}
}
