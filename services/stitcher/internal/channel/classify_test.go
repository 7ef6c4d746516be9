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
		{"fbclid paid", Input{URL: page, UTMMedium: "cpc", ClickIDs: map[string]string{"fbclid": "f"}}, "facebook_ads/facebook/cpc"},
		{"fbclid instagram paid", Input{URL: page, UTMSource: "instagram", UTMMedium: "paid_social", ClickIDs: map[string]string{"fbclid": "f"}}, "instagram_ads/instagram/paid_social"},
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

// TestRegressions are the cases issue 10 found wrong with the hand-typed rules.
func TestRegressions(t *testing.T) {
	c := mustCompile(t, Rules{})
	const page = "https://shop.example.ru/catalog?x=1"
	cases := []struct {
		name string
		in   Input
		want string // channel/source/medium
	}{
		// utm_medium alone classifies; tagged traffic is never direct.
		{"medium email alone", Input{URL: page, UTMMedium: "email"}, "email/(not set)/email"},
		{"medium sms alone", Input{URL: page, UTMMedium: "sms"}, "sms/(not set)/sms"},
		{"medium push alone", Input{URL: page, UTMMedium: "push"}, "mobile_push/(not set)/push"},
		{"medium web-push alone", Input{URL: page, UTMMedium: "web-push"}, "mobile_push/(not set)/web-push"},
		{"medium cpc alone", Input{URL: page, UTMMedium: "cpc"}, "paid_other/(not set)/cpc"},
		{"medium display alone", Input{URL: page, UTMMedium: "display"}, "display/(not set)/display"},
		{"medium affiliate alone", Input{URL: page, UTMMedium: "affiliate"}, "affiliates/(not set)/affiliate"},
		{"medium unknown alone", Input{URL: page, UTMMedium: "qr-poster"}, "tagged_other/(not set)/qr-poster"},
		{"campaign alone", Input{URL: page, UTMCampaign: "spring"}, "tagged_other/(not set)/"},
		{"medium in url only", Input{URL: page + "&utm_medium=sms"}, "sms/(not set)/sms"},
		{"tagged beats referrer", Input{URL: page, UTMMedium: "email", Referrer: "https://www.google.com/"}, "email/(not set)/email"},
		// Referrer lists: webmail, search engines, social networks the old rules missed.
		{"gmx webmail", Input{URL: page, Referrer: "https://navigator.gmx.net/mail"}, "email/webmail/email"},
		{"web.de webmail", Input{URL: page, Referrer: "https://3c.web.de/"}, "email/webmail/email"},
		{"yahoo mail", Input{URL: page, Referrer: "https://de.mail.yahoo.com/d/folders/1"}, "email/webmail/email"},
		{"old outlook host", Input{URL: page, Referrer: "https://blu180.mail.live.com/"}, "email/webmail/email"},
		{"t-online", Input{URL: page, Referrer: "https://email.t-online.de/em"}, "email/webmail/email"},
		{"proton", Input{URL: page, Referrer: "https://mail.proton.me/u/0/inbox"}, "email/webmail/email"},
		{"gmail before google", Input{URL: page, Referrer: "https://mail.google.com/mail/u/0/"}, "email/webmail/email"},
		{"yandex mail before yandex", Input{URL: page, Referrer: "https://mail.yandex.kz/"}, "email/webmail/email"},
		{"brave search", Input{URL: page, Referrer: "https://search.brave.com/search?q=x"}, "organic/brave/organic"},
		{"aol search", Input{URL: page, Referrer: "https://search.aol.com/aol/search?q=x"}, "organic/aol/organic"},
		{"meta.ua", Input{URL: page, Referrer: "https://meta.ua/search?q=x"}, "organic/meta.ua/organic"},
		{"google.co.uk", Input{URL: page, Referrer: "https://www.google.co.uk/"}, "organic/google/organic"},
		{"google images path", Input{URL: page, Referrer: "https://www.google.de/imgres?imgurl=x"}, "organic/google_images/organic"},
		{"threads", Input{URL: page, Referrer: "https://www.threads.net/@x"}, "social/threads/social"},
		{"bluesky", Input{URL: page, Referrer: "https://bsky.app/profile/x"}, "social/bluesky/social"},
		{"tumblr", Input{URL: page, Referrer: "https://x.tumblr.com/post/1"}, "social/tumblr/social"},
		{"odnoklassniki.ru", Input{URL: page, Referrer: "https://odnoklassniki.ru/"}, "social/odnoklassniki/social"},
		{"facebook is social though Matomo lists its search", Input{URL: page, Referrer: "https://facebook.com/"}, "social/facebook/social"},
		// Ad-serving hosts are paid.
		{"doubleclick", Input{URL: page, Referrer: "https://googleads.g.doubleclick.net/pagead/ads"}, "display/google/display"},
		{"googlesyndication", Input{URL: page, Referrer: "https://tpc.googlesyndication.com/"}, "display/google/display"},
		{"syndicatedsearch", Input{URL: page, Referrer: "https://syndicatedsearch.goog/"}, "paid_search/google/cpc"},
		{"yabs", Input{URL: page, Referrer: "https://yabs.yandex.ru/count/abc"}, "yandex_direct/yandex/cpc"},
		// AI assistants.
		{"chatgpt", Input{URL: page, Referrer: "https://chatgpt.com/"}, "ai_assistant/chatgpt/referral"},
		{"chat.openai", Input{URL: page, Referrer: "https://chat.openai.com/c/1"}, "ai_assistant/chatgpt/referral"},
		{"perplexity", Input{URL: page, Referrer: "https://www.perplexity.ai/"}, "ai_assistant/perplexity/referral"},
		{"gemini before google", Input{URL: page, Referrer: "https://gemini.google.com/app"}, "ai_assistant/gemini/referral"},
		{"copilot", Input{URL: page, Referrer: "https://copilot.microsoft.com/"}, "ai_assistant/copilot/referral"},
		{"deepseek", Input{URL: page, Referrer: "https://chat.deepseek.com/"}, "ai_assistant/deepseek/referral"},
		{"claude", Input{URL: page, Referrer: "https://claude.ai/chat/1"}, "ai_assistant/claude/referral"},
		{"alice", Input{URL: page, Referrer: "https://alice.yandex.ru/"}, "ai_assistant/alice/referral"},
		{"grok path on x.com", Input{URL: page, Referrer: "https://x.com/i/grok?conversation=1"}, "ai_assistant/grok/referral"},
		{"x.com itself is social", Input{URL: page, Referrer: "https://x.com/someone/status/1"}, "social/x/social"},
		{"bing chat path", Input{URL: page, Referrer: "https://www.bing.com/chat"}, "ai_assistant/copilot/referral"},
		{"utm_source chatgpt.com", Input{URL: page, UTMSource: "chatgpt.com"}, "ai_assistant/chatgpt.com/"},
		// Internal: the same registrable domain, or the account's own domains.
		{"subdomain is internal", Input{URL: page, Referrer: "https://blog.example.ru/post"}, "direct/(direct)/(none)"},
		{"co.uk subdomain is internal", Input{URL: "https://shop.example.co.uk/", Referrer: "https://www.example.co.uk/"}, "direct/(direct)/(none)"},
		{"other co.uk site is not", Input{URL: "https://shop.example.co.uk/", Referrer: "https://other.co.uk/"}, "referral/other.co.uk/referral"},
		{"github.io neighbours are not", Input{URL: "https://a.github.io/", Referrer: "https://b.github.io/"}, "referral/b.github.io/referral"},
		{"own domain", Input{URL: page, Referrer: "https://booking.example-spa.com/", OwnDomains: []string{"example-spa.com"}}, "direct/(direct)/(none)"},
		{"own domain is not a suffix match", Input{URL: page, Referrer: "https://notexample-spa.com/", OwnDomains: []string{"example-spa.com"}}, "referral/notexample-spa.com/referral"},
		{"ip neighbours are not", Input{URL: "http://10.0.0.1/", Referrer: "http://10.1.0.1/"}, "referral/10.1.0.1/referral"},
		// Click ids: paid or organic as the platforms document them.
		{"fbclid alone is organic", Input{URL: page, ClickIDs: map[string]string{"fbclid": "f"}}, "social/facebook/social"},
		{"fbclid from instagram", Input{URL: page, Referrer: "https://l.instagram.com/", ClickIDs: map[string]string{"fbclid": "f"}}, "social/instagram/social"},
		{"fbclid internal referrer", Input{URL: page, Referrer: "https://example.ru/", ClickIDs: map[string]string{"fbclid": "f"}}, "social/facebook/social"},
		{"fbclid tagged organic", Input{URL: page, UTMSource: "facebook", UTMMedium: "social", ClickIDs: map[string]string{"fbclid": "f"}}, "social/facebook/social"},
		{"fbclid unknown tag", Input{URL: page, UTMSource: "partner", ClickIDs: map[string]string{"fbclid": "f"}}, "social/partner/"},
		{"fbclid paid medium", Input{URL: page, UTMSource: "fb", UTMMedium: "paid", ClickIDs: map[string]string{"fbclid": "f"}}, "facebook_ads/fb/paid"},
		{"ysclid is organic yandex", Input{URL: page, ClickIDs: map[string]string{"ysclid": "y"}}, "organic/yandex/organic"},
		{"ysclid with yclid is paid", Input{URL: page, ClickIDs: map[string]string{"ysclid": "y", "yclid": "1"}}, "yandex_direct/yandex/cpc"},
		{"gclid without medium is paid", Input{URL: page, ClickIDs: map[string]string{"gclid": "g"}}, "google_ads/google/cpc"},
		{"msclkid", Input{URL: page, ClickIDs: map[string]string{"msclkid": "m"}}, "bing_ads/bing/cpc"},
		// Video and shopping follow GA4.
		{"youtube", Input{URL: page, Referrer: "https://www.youtube.com/watch?v=1"}, "organic_video/youtube/video"},
		{"rutube", Input{URL: page, Referrer: "https://rutube.ru/video/1"}, "organic_video/rutube/video"},
		{"ozon", Input{URL: page, Referrer: "https://www.ozon.ru/product/1"}, "organic_shopping/ozon/referral"},
		{"yandex market before yandex", Input{URL: page, Referrer: "https://market.yandex.ru/"}, "organic_shopping/yandex_market/referral"},
		{"google shopping path", Input{URL: page, Referrer: "https://www.google.com/products?q=x"}, "organic_shopping/google_shopping/referral"},
	}
	for _, tc := range cases {
		s := c.Classify(tc.in)
		if got := s.Channel + "/" + s.Source + "/" + s.Medium; got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	// The click id travels with an organic classification too: a new click
	// is a new traffic source.
	s := c.Classify(Input{URL: page, Referrer: "https://l.facebook.com/", ClickIDs: map[string]string{"fbclid": "abc"}})
	if s.ClickParam != "fbclid" || s.ClickID != "abc" {
		t.Errorf("organic fbclid: click %q=%q, want fbclid=abc", s.ClickParam, s.ClickID)
	}
}

// TestGA4ChannelGroups are GA4's published default channel-group
// definitions (https://support.google.com/analytics/answer/9756891), one
// case per group, under our channel names (docs/analytics.md maps them).
func TestGA4ChannelGroups(t *testing.T) {
	c := mustCompile(t, Rules{})
	const page = "https://shop.example.ru/"
	cases := []struct {
		ga4                      string
		source, medium, campaign string
		want                     string
	}{
		{"Cross-network", "google", "cpc", "pmax_cross-network_spring", "google_ads"}, // our platform rule first
		{"Cross-network", "partner", "cpc", "spring cross-network", "cross_network"},
		{"Paid Shopping", "ozon", "cpc", "", "paid_shopping"},
		{"Paid Shopping (campaign)", "partner", "ppc", "summer_shopping", "paid_shopping"},
		{"Paid Shopping (campaign)", "partner", "paid", "shop-may", "paid_shopping"},
		{"Paid Search", "duckduckgo", "cpc", "", "paid_search"},
		{"Paid Search", "baidu", "ppc", "", "paid_search"},
		{"Paid Search (ours)", "yandex", "cpc", "", "yandex_direct"},
		{"Paid Search (ours)", "google", "cpc", "", "google_ads"},
		{"Paid Search (ours)", "bing", "cpc", "", "bing_ads"},
		{"Paid Social", "reddit", "cpc", "", "paid_social"},
		{"Paid Social", "linkedin", "paid", "", "paid_social"},
		{"Paid Social (ours)", "vk", "cpc", "", "vk_ads"},
		{"Paid Social (ours)", "facebook", "cpc", "", "facebook_ads"},
		{"Paid Video", "youtube", "cpc", "", "paid_video"},
		{"Paid Video", "rutube", "cpv", "", "paid_video"},
		{"Display", "partner", "display", "", "display"},
		{"Display", "partner", "banner", "", "display"},
		{"Display", "partner", "interstitial", "", "display"},
		{"Display", "partner", "expandable", "", "display"},
		{"Paid Other", "partner", "cpc", "", "paid_other"},
		{"Paid Other", "partner", "retargeting", "", "paid_other"},
		{"Display (cpm, before Paid Other)", "partner", "cpm", "", "display"},
		{"Organic Shopping", "wildberries", "", "", "organic_shopping"},
		{"Organic Shopping (campaign)", "partner", "", "shopping_week", "organic_shopping"},
		{"Organic Social", "reddit", "", "", "social"},
		{"Organic Social", "partner", "social-network", "", "social"},
		{"Organic Social", "partner", "sm", "", "social"},
		{"Organic Social", "partner", "social media", "", "social"},
		{"Organic Video", "vimeo", "", "", "organic_video"},
		{"Organic Video", "partner", "video_review", "", "organic_video"},
		{"Organic Search", "duckduckgo", "", "", "organic"},
		{"Organic Search", "partner", "organic", "", "organic"},
		{"Referral", "partner", "referral", "", "referral"},
		{"Referral", "partner", "app", "", "referral"},
		{"Referral", "partner", "link", "", "referral"},
		{"Email", "e-mail", "", "", "email"},
		{"Email", "partner", "e_mail", "", "email"},
		{"Email", "partner", "e mail", "", "email"},
		{"Affiliates", "partner", "affiliate", "", "affiliates"},
		{"Audio", "podcast", "audio", "", "audio"},
		{"SMS", "sms", "", "", "sms"},
		{"SMS", "partner", "sms", "", "sms"},
		{"Mobile Push Notifications", "partner", "push", "", "mobile_push"},
		{"Mobile Push Notifications", "partner", "mobile", "", "mobile_push"},
		{"Mobile Push Notifications", "partner", "app-notification", "", "mobile_push"},
		{"Mobile Push Notifications", "firebase", "", "", "mobile_push"},
		{"Unassigned", "partner", "qr", "", "tagged_other"},
	}
	for _, tc := range cases {
		s := c.Classify(Input{URL: page, UTMSource: tc.source, UTMMedium: tc.medium, UTMCampaign: tc.campaign})
		if s.Channel != tc.want {
			t.Errorf("%s (%s/%s/%s): got %s, want %s", tc.ga4, tc.source, tc.medium, tc.campaign, s.Channel, tc.want)
		}
	}
}

func TestOwnDomainsDoNotSplitSessions(t *testing.T) {
	c := mustCompile(t, Rules{})
	// A hit from the account's booking site (own domain) is internal: it
	// classifies as direct, which never starts a session (session.Sessionize).
	s := c.Classify(Input{URL: "https://shop.example.ru/", Referrer: "https://book.example-spa.com/", OwnDomains: []string{"example-spa.com"}})
	if !s.IsDirect() {
		t.Errorf("own-domain referrer: got %+v, want direct", s)
	}
}

func mustCompile(t testing.TB, r Rules) *Classifier {
	t.Helper()
	c, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
