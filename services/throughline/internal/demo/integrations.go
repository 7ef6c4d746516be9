package demo

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/throughline/throughline/pkg/tenants"
)

// DefaultCRMAddr is where the demo's simulated CRMs listen unless told
// otherwise; DefaultCRMURL is its URL, written into the tenants file.
const (
	DefaultCRMAddr = "127.0.0.1:18095"
	DefaultCRMURL  = "http://" + DefaultCRMAddr
)

// crmPathPrefix starts the path of every simulated CRM's base_url: it is how
// the demo recognises its own CRMs in a tenants file.
const crmPathPrefix = "/demo-crm/"

// tenantsSeed is the seed of the demo tenants file the all-in-one writes.
const tenantsSeed = 1

// Vendors of the integrations.
const (
	vendorCalltouch = "calltouch"
	vendorMango     = "mango"
	vendorGeneric   = "generic"
	crmAmoCRM       = "amocrm"
	crmBitrix24     = "bitrix24"
	crmGeneric      = "generic"
)

// Custom fields of the simulated CRMs that carry Throughline's client id
// and the call-tracking call id.
const (
	b24ClientIDField = "UF_CRM_TL_CLIENT_ID"
	b24CallIDField   = "UF_CRM_CALL_ID"
	amoClientIDField = "client_id"
	amoCallIDField   = "Call ID"
	// simulatedCRMRPS bounds the collector's pulls from the simulated CRMs.
	// Real portals allow 2 requests a second each; the simulated ones share
	// one loopback host, and the collector counts its limit per host.
	simulatedCRMRPS = 200
)

// callVendor is the call-tracking vendor of the i-th branch: Calltouch
// (dynamic numbers, reports the visitor's client id) or Mango Office (a
// static number per channel, signed requests).
func callVendor(i int) string {
	switch {
	case i%3 == 1:
		return vendorMango
	case i%6 == 3:
		return vendorCallibri
	case i%6 == 5:
		return vendorAlloka
	}
	return vendorCalltouch
}

// crmVendor is the CRM of the i-th branch.
func crmVendor(i int) string {
	switch i % 5 {
	case 0, 2:
		return crmBitrix24
	case 1, 3:
		return crmAmoCRM
	}
	switch i % 20 {
	case 9:
		return crmMegaplan
	case 19:
		return crmDynamics
	}
	return crmGeneric
}

// jivoChats tells the branches with a Jivo widget on their site.
func jivoChats(i int) bool { return i%4 == 0 }

// integrate gives the i-th branch its call tracking — the vendor, two
// offline numbers (a billboard, flyers) and, for Mango, a site number per
// channel — and its CRM.
func integrate(a *tenants.Account, i int, crmURL string) {
	static := map[string]tenants.StaticNumber{
		staticNumber(i, 1): {Channel: "offline", Source: "billboard", Medium: "outdoor", Campaign: "billboard-" + a.ID},
		staticNumber(i, 2): {Channel: "offline", Source: "flyers", Medium: "print", Campaign: "flyers-" + a.ID},
	}
	ct := tenants.CallTracking{Provider: callVendor(i), StaticNumbers: static}
	if ct.Provider == vendorAlloka || ct.Provider == vendorCallibri {
		ct.Secret = newSecret("", 16) // sent as ?token=
	}
	if ct.Provider == vendorMango {
		ct.Secret = newSecret("", 16)
		for ch, c := range channels {
			static[staticNumber(i, 10+ch)] = tenants.StaticNumber{Channel: c.name, Source: c.source, Medium: c.medium}
		}
	}
	a.CallTracking = []tenants.CallTracking{ct}
	if ct.Provider == vendorCalltouch && throughlinePool(i) {
		// The branch's PBX reports the pool's calls through the generic webhook.
		np := &tenants.NumberPool{Replace: []string{sitePhone(i)}}
		for n := range throughlinePoolSize {
			np.Numbers = append(np.Numbers, poolNumber(i, 100+n))
		}
		a.CallTracking = append(a.CallTracking, tenants.CallTracking{Provider: vendorGeneric, NumberPool: np})
	}
	base := strings.TrimRight(crmURL, "/") + crmPathPrefix
	switch crmVendor(i) {
	case crmBitrix24:
		a.CRM = &tenants.CRM{Provider: crmBitrix24,
			BaseURL:       base + crmBitrix24 + "/" + a.ID + "/rest/1/" + newSecret("", 12) + "/",
			AppToken:      newSecret("", 16),
			ClientIDField: b24ClientIDField, CallIDField: b24CallIDField, RequestsPerSecond: simulatedCRMRPS}
	case crmAmoCRM:
		a.CRM = &tenants.CRM{Provider: crmAmoCRM, BaseURL: base + crmAmoCRM + "/" + a.ID, Subdomain: amoSubdomain(a.ID),
			AppToken:      newSecret("", 16),
			ClientIDField: amoClientIDField, CallIDField: amoCallIDField, RequestsPerSecond: simulatedCRMRPS}
	case crmMegaplan:
		a.CRM = &tenants.CRM{Provider: crmMegaplan, AppToken: newSecret("", 16)}
	case crmDynamics:
		a.CRM = &tenants.CRM{Provider: crmDynamics, AppToken: newSecret("", 16), ClientIDField: "new_tl_client_id"}
	default:
		a.CRM = &tenants.CRM{Provider: crmGeneric}
	}
	if jivoChats(i) {
		a.Chats = []tenants.ChatWidget{{Provider: chatJivo, Token: newSecret("", 16)}}
	}
}

// amoSubdomain is the simulated amoCRM account's subdomain, which its
// webhooks name (account[subdomain]).
func amoSubdomain(account string) string { return "demo-" + account }

// throughlinePool tells the branches that also use Throughline's own number
// pool (GET /v1/numbers): live, a visitor who clicks the phone dials a
// leased number, the PBX reports the call through the generic webhook
// without a client id, and the stitcher links it through the lease.
func throughlinePool(i int) bool { return i%10 == 2 }

// throughlinePoolSize is the size of those pools: small, so the busiest
// branch's pool runs out now and then (shared leases).
const throughlinePoolSize = 8

// sitePhone is the phone the i-th branch's pages show by default.
func sitePhone(i int) string { return fmt.Sprintf("+7 (499) %03d-00-00", i%1000) }

// staticNumber is the n-th static tracking number of the i-th branch.
func staticNumber(i, n int) string { return fmt.Sprintf("+7499%03d%04d", i%1000, n) }

// poolNumber is the n-th number of the i-th branch's dynamic Calltouch pool.
func poolNumber(i, n int) string { return fmt.Sprintf("+7495%03d%04d", i%1000, n) }

// PrepareTenantsFile makes the tenants file at path ready for the demo. A
// missing file is written with the demo network (TenantsFor with crmURL). In
// an existing file, the demo network's accounts the demo generated (an id
// of the network whose keys are the demo's: tl_demo_ keys, or the keys older
// demos computed) are completed — a file written by an older demo — and
// every credential an older demo computed (the same on every installation)
// is replaced by a random one; the tenant gets its tenant key and read
// token, and simulated CRMs whose base_url points elsewhere than crmURL
// (another --demo-crm-addr) are pointed at it. Anything else in the file is
// left as it is. It returns what it did: "created", "upgraded" or ""
// (nothing to do).
func PrepareTenantsFile(path, crmURL string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := WriteTenantsFile(path, TenantsFor(tenantsSeed, DefaultBranches, crmURL)); err != nil {
			return "", err
		}
		return "created", nil
	}
	cfg, err := tenants.Decode(path)
	if err != nil {
		return "", err
	}
	if !upgradeTenants(cfg, crmURL) {
		return "", cfg.Validate()
	}
	if err := WriteTenantsFile(path, cfg); err != nil {
		return "", err
	}
	return "upgraded", nil
}

// upgradeTenants completes the demo network of cfg (see PrepareTenantsFile)
// and reports whether it changed anything.
func upgradeTenants(cfg *tenants.Config, crmURL string) bool {
	changed := false
	for ti := range cfg.Tenants {
		t := &cfg.Tenants[ti]
		if t.ID != TenantID {
			continue
		}
		gen := TenantsFor(tenantsSeed, len(t.Accounts), crmURL).Tenants[0]
		byID := map[string]*tenants.Account{}
		for i := range gen.Accounts {
			byID[gen.Accounts[i].ID] = &gen.Accounts[i]
		}
		if keep := withoutRetired(t.TenantKeys, tenants.RetiredDemoSecret("tenant-key", t.ID, "demo_tk_")); len(keep) == 0 {
			t.TenantKeys, changed = gen.TenantKeys, true
		} else if len(keep) < len(t.TenantKeys) {
			t.TenantKeys, changed = keep, true
		}
		if keep := withoutRetired(t.ReadTokens, tenants.RetiredDemoSecret("read-token", t.ID, "demo_rt_")); len(keep) == 0 {
			t.ReadTokens, changed = gen.ReadTokens, true
		} else if len(keep) < len(t.ReadTokens) {
			t.ReadTokens, changed = keep, true
		}
		if len(t.ClickHouseUsers) == 0 {
			t.ClickHouseUsers, changed = gen.ClickHouseUsers, true
		}
		if cfg.ClickHouse.Admin == nil {
			cfg.ClickHouse.Admin, changed = TenantsFor(tenantsSeed, 1, crmURL).ClickHouse.Admin, true
		}
		if t.PIISalt == "" {
			changed = true // WriteTenantsFile generates it
		}
		for ai := range t.Accounts {
			a := &t.Accounts[ai]
			g := byID[a.ID]
			if g == nil || !generatedKeys(a) {
				continue // not an account the demo generated
			}
			if len(a.WriteKeys) > 0 || len(a.SiteKeys) == 0 || len(a.ServerKeys) == 0 {
				// Computed keys of an older demo: new random ones.
				a.WriteKeys, a.SiteKeys, a.ServerKeys, changed = nil, g.SiteKeys, g.ServerKeys, true
			}
			if len(a.CallTracking) == 0 {
				a.CallTracking, changed = g.CallTracking, true
			}
			for ci := range a.CallTracking {
				ct := &a.CallTracking[ci]
				if ct.Secret != "" && ct.Secret == tenants.RetiredDemoSecret("mango-salt", a.ID, "") {
					ct.Secret, changed = newSecret("", 16), true
				}
			}
			switch {
			case a.CRM == nil || retiredCRM(a):
				a.CRM, changed = g.CRM, true
			case rehome(a.CRM, crmURL):
				changed = true
			}
			if a.CRM.Provider == crmAmoCRM && a.CRM.Subdomain == "" {
				a.CRM.Subdomain, changed = amoSubdomain(a.ID), true
			}
		}
	}
	return changed
}

// generatedKeys tells an account whose keys the demo made: its own tl_demo_
// keys, or the one an older demo computed.
func generatedKeys(a *tenants.Account) bool {
	n := 0
	for _, k := range a.SiteKeys {
		if !strings.HasPrefix(k, prefixSiteKey) {
			return false
		}
		n++
	}
	for _, k := range a.ServerKeys {
		if !strings.HasPrefix(k, prefixServerKey) {
			return false
		}
		n++
	}
	for _, k := range a.WriteKeys {
		if k != tenants.RetiredDemoKey(a.ID) {
			return false
		}
		n++
	}
	return n > 0
}

// retiredCRM tells a simulated CRM whose tokens an older demo computed; it
// gets new ones (and the simulated CRM learns them from the file).
func retiredCRM(a *tenants.Account) bool {
	c := a.CRM
	return c.AppToken != "" && (c.AppToken == tenants.RetiredDemoSecret("b24-app-token", a.ID, "") ||
		c.AppToken == tenants.RetiredDemoSecret("amo-token", a.ID, ""))
}

func withoutRetired(list []string, retired string) []string {
	var keep []string
	for _, s := range list {
		if s != retired {
			keep = append(keep, s)
		}
	}
	return keep
}

// rehome points a simulated CRM's base_url at crmURL; it reports whether it
// had to.
func rehome(c *tenants.CRM, crmURL string) bool {
	u, err := url.Parse(c.BaseURL)
	if err != nil || !strings.HasPrefix(u.Path, crmPathPrefix) {
		return false
	}
	to, err := url.Parse(crmURL)
	if err != nil || to.Host == "" || (u.Scheme == to.Scheme && u.Host == to.Host) {
		return false
	}
	u.Scheme, u.Host = to.Scheme, to.Host
	c.BaseURL = u.String()
	return true
}
