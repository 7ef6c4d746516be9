package stitcher

import (
	"slices"
	"testing"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

// TestOwnDomainsFromTenantsFile: the tenants file's own_domains reach the
// stitcher's settings — a tenant's for every branch, a branch's on top.
func TestOwnDomainsFromTenantsFile(t *testing.T) {
	tc, err := tenants.Parse([]byte(`
tenants:
  - id: acme
    own_domains: [acme.ru]
    accounts:
      - {id: msk, own_domains: [msk-acme.ru], write_keys: [msk-key-123]}
      - {id: spb, write_keys: [spb-key-123]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := withOwnDomains(stitch.Policy{Default: stitch.DefaultSettings()}, tc)
	if got := p.For("acme", "msk").OwnDomains; !slices.Equal(got, []string{"acme.ru", "msk-acme.ru"}) {
		t.Errorf("msk: %v", got)
	}
	if got := p.For("acme", "spb").OwnDomains; !slices.Equal(got, []string{"acme.ru"}) {
		t.Errorf("spb: %v", got)
	}
	if got := p.For("other", "x").OwnDomains; got != nil {
		t.Errorf("other tenant: %v", got)
	}
	if _, err := tenants.Parse([]byte("tenants:\n  - id: acme\n    own_domains: ['https://acme.ru/']\n")); err == nil {
		t.Error("a URL in own_domains accepted")
	}
}
