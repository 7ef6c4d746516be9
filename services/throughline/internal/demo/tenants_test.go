package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/throughline/throughline/pkg/tenants"
)

func TestTenants(t *testing.T) {
	cfg := Tenants(1, 0)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tenants) != 1 {
		t.Fatalf("%d tenants", len(cfg.Tenants))
	}
	tn := cfg.Tenants[0]
	if tn.ID != TenantID || tn.Timezone != "Europe/Moscow" || tn.Currency != "RUB" || len(tn.Accounts) != DefaultBranches {
		t.Fatalf("tenant %+v", tn)
	}
	if tn.Accounts[0].ID != "moscow" || tn.Accounts[0].Name != "Москва" {
		t.Errorf("first branch %+v", tn.Accounts[0])
	}
	keys := tenants.NewKeys(cfg)
	for _, a := range tn.Accounts {
		if len(a.WriteKeys) != 0 || len(a.SiteKeys) != 1 || len(a.ServerKeys) != 1 {
			t.Errorf("%s: site keys %v, server keys %v, write keys %v", a.ID, a.SiteKeys, a.ServerKeys, a.WriteKeys)
		}
		if p, ok := keys.Lookup(a.SiteKey()); !ok || p != (tenants.Principal{Tenant: TenantID, Account: a.ID}) {
			t.Errorf("%s: site key resolves to %+v", a.ID, p)
		}
		if p, ok := keys.Lookup(a.ServerKey()); !ok || p != (tenants.Principal{Tenant: TenantID, Account: a.ID, Server: true}) {
			t.Errorf("%s: server key resolves to %+v", a.ID, p)
		}
		if a.Timezone != "" {
			if _, err := time.LoadLocation(a.Timezone); err != nil {
				t.Errorf("%s: %v", a.ID, err)
			}
		}
	}
	// Generated, not derived: the same call gives other secrets (the file
	// keeps them), and none is a credential an older demo computed.
	again := Tenants(1, 20).Tenants[0]
	if again.Accounts[0].SiteKey() == tn.Accounts[0].SiteKey() || again.Accounts[0].ServerKey() == tn.Accounts[0].ServerKey() ||
		again.TenantKeys[0] == tn.TenantKeys[0] || again.ReadTokens[0] == tn.ReadTokens[0] {
		t.Error("two demo networks share a secret")
	}
	big := Tenants(1, 65)
	if err := big.Validate(); err != nil {
		t.Fatalf("65 branches: %v", err)
	}
	if id := big.Tenants[0].Accounts[64].ID; id != "kazan-3" {
		t.Errorf("branch 65 is %q", id)
	}
}

func TestWriteTenantsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "tenants.yaml")
	want := Tenants(5, 3)
	if err := WriteTenantsFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := tenants.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	gotYAML, _ := yaml.Marshal(got)
	wantYAML, _ := yaml.Marshal(want)
	if string(gotYAML) != string(wantYAML) {
		t.Errorf("round trip:\n%s\nwant:\n%s", gotYAML, wantYAML)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	if err := WriteTenantsFile(path, &tenants.Config{}); err == nil {
		t.Error("an invalid config was written")
	}
}

func TestTenantsIntegrations(t *testing.T) {
	const crmURL = "http://127.0.0.1:4321"
	cfg := TenantsFor(1, 20, crmURL)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tn := cfg.Tenants[0]
	if len(tn.TenantKeys) != 1 {
		t.Fatalf("tenant keys %v", tn.TenantKeys)
	}
	if tk, ok := tenants.NewKeys(cfg).LookupTenant(tn.TenantKeys[0]); !ok || tk != TenantID {
		t.Fatal("the tenant key does not resolve to the demo tenant")
	}
	vendors, crms := map[string]int{}, map[string]int{}
	pools := 0
	for _, a := range tn.Accounts {
		pool, _ := a.NumberPool()
		// Calltouch or Mango; the branches with a pool add the generic webhook.
		if len(a.CallTracking) == 0 || a.CRM == nil ||
			(pool == nil) != (len(a.CallTracking) == 1) || pool != nil && a.CallTracking[1].Provider != vendorGeneric {
			t.Fatalf("%s: call tracking %+v, crm %v", a.ID, a.CallTracking, a.CRM)
		}
		if pool != nil {
			pools++
		}
		ct := a.CallTracking[0]
		vendors[ct.Provider]++
		offline := 0
		for num, sn := range ct.StaticNumbers {
			if sn.Channel == "offline" {
				offline++
			}
			if len(num) != 12 {
				t.Errorf("%s: number %q", a.ID, num)
			}
		}
		if offline != 2 {
			t.Errorf("%s: %d offline numbers", a.ID, offline)
		}
		if ct.Provider == vendorMango && (ct.Secret == "" || len(ct.StaticNumbers) != 2+len(channels)) {
			t.Errorf("%s: mango without salt or site numbers: %+v", a.ID, ct)
		}
		crms[a.CRM.Provider]++
		switch a.CRM.Provider {
		case crmBitrix24, crmAmoCRM:
			if !strings.HasPrefix(a.CRM.BaseURL, crmURL+crmPathPrefix+a.CRM.Provider+"/"+a.ID) || a.CRM.AppToken == "" {
				t.Errorf("%s: %+v", a.ID, a.CRM)
			}
		}
	}
	if vendors[vendorCalltouch] < 5 || vendors[vendorMango] < 5 {
		t.Errorf("call vendors %v", vendors)
	}
	if pools != 2 {
		t.Errorf("%d branches with a number pool, want 2", pools)
	}
	if vendors[vendorAlloka] < 2 || vendors[vendorCallibri] < 2 {
		t.Errorf("call vendors %v", vendors)
	}
	if crms[crmMegaplan] != 1 || crms[crmDynamics] != 1 {
		t.Errorf("crms %v", crms)
	}
	if crms[crmAmoCRM] < 4 || crms[crmBitrix24] < 4 || crms[crmGeneric] < 2 {
		t.Errorf("crms %v", crms)
	}
	for id, want := range map[string]string{sloppyBranch: crmAmoCRM, blockedBranch: crmBitrix24} {
		if _, a := cfg.Find(TenantID, id); a == nil || a.CRM.Provider != want {
			t.Errorf("story branch %s is not on %s", id, want)
		}
	}
	if !sameYAML(withoutSecrets(Tenants(1, 20)), withoutSecrets(TenantsFor(1, 20, DefaultCRMURL))) {
		t.Error("Tenants is not TenantsFor the default CRM URL")
	}
}

func TestPrepareTenantsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	if did, err := PrepareTenantsFile(path, "http://127.0.0.1:1111"); err != nil || did != "created" {
		t.Fatalf("fresh: %q %v", did, err)
	}
	got, err := tenants.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	salt := got.Tenants[0].PIISalt
	if len(salt) != 64 {
		t.Errorf("pii_salt %q: want 32 random bytes in hex", salt)
	}
	other := filepath.Join(t.TempDir(), "tenants.yaml")
	if _, err := PrepareTenantsFile(other, "http://127.0.0.1:1111"); err != nil {
		t.Fatal(err)
	}
	if again, _ := tenants.Load(other); again == nil || again.Tenants[0].PIISalt == salt {
		t.Error("two demo files got the same pii_salt: it is derived, not generated")
	}
	got.Tenants[0].PIISalt = ""
	if !sameYAML(withoutSecrets(got), withoutSecrets(TenantsFor(tenantsSeed, DefaultBranches, "http://127.0.0.1:1111"))) {
		t.Error("a fresh file is not the demo network")
	}
	if did, err := PrepareTenantsFile(path, "http://127.0.0.1:1111"); err != nil || did != "" {
		t.Fatalf("second time: %q %v", did, err)
	}

	// A file of an older demo: computed credentials (the same on every
	// installation), no integrations, plus an account and an edit of the
	// user's own. It is written as that demo wrote it: today's
	// WriteTenantsFile refuses computed credentials.
	old := TenantsFor(tenantsSeed, 5, DefaultCRMURL)
	tn := &old.Tenants[0]
	tn.TenantKeys = []string{tenants.RetiredDemoSecret("tenant-key", TenantID, "demo_tk_")}
	tn.ReadTokens = []string{tenants.RetiredDemoSecret("read-token", TenantID, "demo_rt_")}
	for i := range tn.Accounts {
		a := &tn.Accounts[i]
		a.SiteKeys, a.ServerKeys, a.WriteKeys = nil, nil, []string{tenants.RetiredDemoKey(a.ID)}
		a.CallTracking, a.CRM = nil, nil
	}
	tn.Accounts[1].WriteKeys = []string{"users-own-key-1"} // no longer the demo's account
	tn.Accounts = append(tn.Accounts, tenants.Account{ID: "franchisee", WriteKeys: []string{"franchisee-key-1"}})
	old.Tenants = append(old.Tenants, tenants.Tenant{ID: "other", Accounts: []tenants.Account{{ID: "x", WriteKeys: []string{"other-key-123"}}}})
	b, _ := yaml.Marshal(old)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.Load(path); err == nil || !strings.Contains(err.Error(), "anyone can compute") {
		t.Fatalf("a file with computed credentials loaded: %v", err)
	}
	if did, err := PrepareTenantsFile(path, "http://127.0.0.1:2222"); err != nil || did != "upgraded" {
		t.Fatalf("old file: %q %v", did, err)
	}
	got, err = tenants.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := withoutSecrets(TenantsFor(tenantsSeed, 6, "http://127.0.0.1:2222")).Tenants[0]
	g := got.Tenants[0]
	if len(g.TenantKeys) != 1 || !strings.HasPrefix(g.TenantKeys[0], prefixTenantKey) ||
		len(g.ReadTokens) != 1 || !strings.HasPrefix(g.ReadTokens[0], prefixReadToken) {
		t.Errorf("computed tenant key / read token not replaced: %v %v", g.TenantKeys, g.ReadTokens)
	}
	keys := tenants.NewKeys(got)
	for i, a := range g.Accounts {
		if _, ok := keys.Lookup(tenants.RetiredDemoKey(a.ID)); ok {
			t.Errorf("%s: the computed key still works", a.ID)
		}
		switch {
		case i == 1 || a.ID == "franchisee":
			if a.CRM != nil || len(a.CallTracking) > 0 || len(a.SiteKeys) > 0 {
				t.Errorf("%s is not the demo's, yet was changed", a.ID)
			}
		case !strings.HasPrefix(a.SiteKey(), prefixSiteKey) || !strings.HasPrefix(a.ServerKey(), prefixServerKey) || len(a.WriteKeys) > 0:
			t.Errorf("%s: keys not replaced: %+v", a.ID, a)
		case !sameYAML(withoutSecrets(&tenants.Config{Tenants: []tenants.Tenant{{Accounts: []tenants.Account{a}}}}),
			&tenants.Config{Tenants: []tenants.Tenant{{Accounts: []tenants.Account{want.Accounts[i]}}}}):
			t.Errorf("%s: %+v, want %+v", a.ID, a, want.Accounts[i])
		}
	}
	otherTenant := got.Tenants[1]
	if otherTenant.PIISalt == "" {
		t.Error("the other tenant got no pii_salt") // WriteTenantsFile generates one for every tenant
	}
	otherTenant.PIISalt = ""
	if !sameYAML(otherTenant, old.Tenants[1]) {
		t.Error("another tenant was changed")
	}

	// Another --demo-crm-addr: the simulated CRMs follow, nothing else moves.
	if did, err := PrepareTenantsFile(path, "http://127.0.0.1:3333"); err != nil || did != "upgraded" {
		t.Fatalf("new port: %q %v", did, err)
	}
	moved, _ := tenants.Load(path)
	for i, a := range moved.Tenants[0].Accounts {
		before := got.Tenants[0].Accounts[i]
		if a.CRM == nil || a.CRM.BaseURL == "" {
			continue
		}
		if strings.Contains(a.CRM.BaseURL, "2222") || strings.Replace(before.CRM.BaseURL, "2222", "3333", 1) != a.CRM.BaseURL {
			t.Errorf("%s: %s after %s", a.ID, a.CRM.BaseURL, before.CRM.BaseURL)
		}
	}
}

// withoutSecrets is a copy of cfg with every generated secret blanked, to
// compare the shape of two demo networks.
func withoutSecrets(cfg *tenants.Config) *tenants.Config {
	var c tenants.Config
	b, _ := yaml.Marshal(cfg)
	yaml.Unmarshal(b, &c)
	for ti := range c.Tenants {
		t := &c.Tenants[ti]
		t.TenantKeys, t.ReadTokens, t.PIISalt = nil, nil, ""
		for ui := range t.ClickHouseUsers {
			t.ClickHouseUsers[ui].Password = ""
		}
		for ai := range t.Accounts {
			a := &t.Accounts[ai]
			a.SiteKeys, a.ServerKeys = nil, nil
			for ci := range a.CallTracking {
				a.CallTracking[ci].Secret = ""
			}
			for ci := range a.Chats {
				a.Chats[ci].Token = ""
			}
			if a.CRM != nil {
				a.CRM.AppToken = ""
				if i := strings.Index(a.CRM.BaseURL, "/rest/1/"); i >= 0 {
					a.CRM.BaseURL = a.CRM.BaseURL[:i] + "/rest/1/SECRET/"
				}
			}
		}
	}
	if c.ClickHouse.Admin != nil {
		c.ClickHouse.Admin.Password = ""
	}
	return &c
}

// sameYAML compares configurations as the file holds them (a file read
// back has empty lists where the generated one has nil).
func sameYAML(a, b any) bool {
	x, _ := yaml.Marshal(a)
	y, _ := yaml.Marshal(b)
	return string(x) == string(y)
}
