package stitch

import (
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

// TestInternalReferrerKeepsSession: a hit whose referrer is the site itself
// — a subdomain of the page's registrable domain, or one of the account's
// own_domains — continues the session; it is neither a referral nor a new
// session's traffic source (issue 10).
func TestInternalReferrerKeepsSession(t *testing.T) {
	evs := []event.Envelope{
		hit("h1", "c1", 0, "https://shop.example.ru/", "https://www.google.com/"),
		hit("h2", "c1", 5*minute, "https://shop.example.ru/cart", "https://blog.example.ru/post"),
		hit("h3", "c1", 10*minute, "https://shop.example.ru/pay", "https://booking.example-spa.com/"),
	}
	sessions := func(own []string) []string {
		rules := DefaultRules()
		s := DefaultSettings()
		s.OwnDomains = own
		rules.Policy = Policy{Default: s}
		var got []string
		for _, x := range final(t, run(rules, evs)).Sessions {
			got = append(got, x.Channel+"/"+x.Source)
		}
		return got
	}
	if got := sessions([]string{"example-spa.com"}); len(got) != 1 || got[0] != "organic/google" {
		t.Errorf("with own_domains: sessions %v, want [organic/google]", got)
	}
	// Without own_domains the booking site is another site: a referral,
	// a new session; the blog subdomain still is not.
	if got := sessions(nil); len(got) != 2 || got[0] != "organic/google" || got[1] != "referral/booking.example-spa.com" {
		t.Errorf("without own_domains: sessions %v, want [organic/google referral/booking.example-spa.com]", got)
	}
}

func TestOwnDomainsOverlay(t *testing.T) {
	p := Policy{Default: DefaultSettings(), Overrides: map[string]Settings{
		"acme":     {OwnDomains: []string{"acme.ru"}},
		"acme/msk": {OwnDomains: []string{"acme.ru", "msk-acme.ru"}},
	}}
	if got := p.For("acme", "spb").OwnDomains; len(got) != 1 || got[0] != "acme.ru" {
		t.Errorf("spb inherits the tenant's: %v", got)
	}
	if got := p.For("acme", "msk").OwnDomains; len(got) != 2 || got[1] != "msk-acme.ru" {
		t.Errorf("msk: %v", got)
	}
}
