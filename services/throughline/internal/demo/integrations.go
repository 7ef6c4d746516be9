package demo

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
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
	if i%3 == 1 {
		return vendorMango
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
	return crmGeneric
}

// integrate gives the i-th branch its call tracking — the vendor, two
// offline numbers (a billboard, flyers) and, for Mango, a site number per
// channel — and its CRM.
func integrate(a *tenants.Account, seed int64, i int, crmURL string) {
	static := map[string]tenants.StaticNumber{
		staticNumber(i, 1): {Channel: "offline", Source: "billboard", Medium: "outdoor", Campaign: "billboard-" + a.ID},
		staticNumber(i, 2): {Channel: "offline", Source: "flyers", Medium: "print", Campaign: "flyers-" + a.ID},
	}
	ct := tenants.CallTracking{Provider: callVendor(i), StaticNumbers: static}
	if ct.Provider == vendorMango {
		ct.Secret = derive(seed, "mango-salt", a.ID, "")
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
			BaseURL:       base + crmBitrix24 + "/" + a.ID + "/rest/1/" + derive(seed, "b24-webhook", a.ID, "") + "/",
			AppToken:      derive(seed, "b24-app-token", a.ID, ""),
			ClientIDField: b24ClientIDField, CallIDField: b24CallIDField, RequestsPerSecond: simulatedCRMRPS}
	case crmAmoCRM:
		a.CRM = &tenants.CRM{Provider: crmAmoCRM, BaseURL: base + crmAmoCRM + "/" + a.ID,
			AppToken:      derive(seed, "amo-token", a.ID, ""),
			ClientIDField: amoClientIDField, CallIDField: amoCallIDField, RequestsPerSecond: simulatedCRMRPS}
	default:
		a.CRM = &tenants.CRM{Provider: crmGeneric}
	}
}

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
// an existing file, the demo network's accounts the demo generated (same id,
// same write key) that lack integrations — a file written by an older demo —
// get them, the tenant gets its tenant key, and simulated CRMs whose
// base_url points elsewhere than crmURL (another --demo-crm-addr) are
// pointed at it. Anything else in the file is left as it is. It returns
// what it did: "created", "upgraded" or "" (nothing to do).
func PrepareTenantsFile(path, crmURL string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := WriteTenantsFile(path, TenantsFor(tenantsSeed, DefaultBranches, crmURL)); err != nil {
			return "", err
		}
		return "created", nil
	}
	cfg, err := tenants.Load(path)
	if err != nil {
		return "", err
	}
	if !upgradeTenants(cfg, crmURL) {
		return "", nil
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
		if len(t.TenantKeys) == 0 {
			t.TenantKeys, changed = gen.TenantKeys, true
		}
		if len(t.ReadTokens) == 0 {
			t.ReadTokens, changed = gen.ReadTokens, true
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
			if g == nil || !reflect.DeepEqual(a.WriteKeys, g.WriteKeys) {
				continue // not an account the demo generated
			}
			if len(a.CallTracking) == 0 {
				a.CallTracking, changed = g.CallTracking, true
			}
			switch {
			case a.CRM == nil:
				a.CRM, changed = g.CRM, true
			case rehome(a.CRM, crmURL):
				changed = true
			}
		}
	}
	return changed
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
