package tenants

import (
	"strings"
	"testing"
	"time"
)

const sample = `
tenants:
  - id: net
    timezone: Europe/Moscow
    currency: RUB
    margin: 0.3
    tenant_keys: [tenant-key-1]
    accounts:
      - id: msk
        write_keys: [msk-key-123]
        call_tracking:
          - provider: mango
            secret: salt
            static_numbers: {"+74950000000": {channel: offline}}
        crm: {provider: amocrm, subdomain: msk-branch}
      - id: spb
        write_keys: [spb-key-123]
        crm: {provider: bitrix24, base_url: "https://x.bitrix24.ru/rest/1/abc/", app_token: tok}
`

func TestKeysResolveToTheirOwnScope(t *testing.T) {
	c, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeys(c)
	if p, ok := k.Lookup("msk-key-123"); !ok || p != (Principal{"net", "msk", true}) {
		t.Fatalf("msk key: %v %v", p, ok)
	}
	if _, ok := k.Lookup("tenant-key-1"); ok {
		t.Fatal("a tenant key must not work as an account write key")
	}
	if _, ok := k.LookupTenant("msk-key-123"); ok {
		t.Fatal("an account key must not work as a tenant key")
	}
	if tn, ok := k.LookupTenant("tenant-key-1"); !ok || tn != "net" {
		t.Fatalf("tenant key: %v %v", tn, ok)
	}
	if _, ok := k.Lookup(""); ok {
		t.Fatal("empty key accepted")
	}
	if tn, a := c.Find("net", "spb"); tn == nil || a == nil || a.CRM.Provider != "bitrix24" {
		t.Fatal("Find did not return spb")
	}
}

func TestRegion(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(strings.Replace(sample, "margin: 0.3", "margin: 0.3\n    phone_region: KZ", 1),
		"write_keys: [spb-key-123]", "write_keys: [spb-key-123]\n        phone_region: UA", 1)))
	if err != nil {
		t.Fatal(err)
	}
	tn := &c.Tenants[0]
	if tn.Region(&tn.Accounts[0]) != "KZ" || tn.Region(&tn.Accounts[1]) != "UA" || tn.Region(nil) != "KZ" || (&Tenant{}).Region(nil) != "RU" {
		t.Errorf("regions: %s %s %s", tn.Region(&tn.Accounts[0]), tn.Region(&tn.Accounts[1]), tn.Region(nil))
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	cases := map[string]string{
		"shared key":     strings.Replace(sample, "spb-key-123", "msk-key-123", 1),
		"bad zone":       strings.Replace(sample, "Europe/Moscow", "Mars/Olympus", 1),
		"bad margin":     strings.Replace(sample, "margin: 0.3", "margin: 3", 1),
		"mango no salt":  strings.Replace(sample, "secret: salt", "secret: ''", 1),
		"bad number":     strings.Replace(sample, "+74950000000", "84950000000", 1),
		"bitrix no url":  strings.Replace(sample, `base_url: "https://x.bitrix24.ru/rest/1/abc/", `, "", 1),
		"bad id":         strings.Replace(sample, "id: spb", "id: SPB!", 1),
		"short number":   strings.Replace(sample, "+74950000000", "+7495000000", 1),
		"spaced number":  strings.Replace(sample, "+74950000000", "+7 495 000-00-00", 1),
		"bad region":     strings.Replace(sample, "margin: 0.3", "margin: 0.3\n    phone_region: RUS", 1),
		"account region": strings.Replace(sample, "write_keys: [spb-key-123]", "write_keys: [spb-key-123]\n        phone_region: ua", 1),
		"short salt":     strings.Replace(sample, "margin: 0.3", "margin: 0.3\n    pii_salt: abc", 1),
	}
	want := map[string]string{
		"shared key": "already used by net/msk", "bad zone": "timezone", "bad margin": "margin",
		"mango no salt": "secret", "bad number": "static_numbers", "bitrix no url": "base_url", "bad id": "accounts[1].id",
		"short number":   `static_numbers: "+7495000000" is not a phone number: too short for a number of +7 (RU)`,
		"spaced number":  `static_numbers: "+7 495 000-00-00" is not written as E.164, write "+74950000000"`,
		"bad region":     "tenants[0].phone_region",
		"account region": "tenants[0].accounts[1].phone_region",
		"short salt":     "tenants[0].pii_salt",
	}
	for name, doc := range cases {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: got %v, want an error naming %q", name, err, want[name])
		}
	}
}

func TestReadTokensReadOneTenant(t *testing.T) {
	src := strings.Replace(sample, "tenant_keys: [tenant-key-1]", "tenant_keys: [tenant-key-1]\n    read_tokens: [net-reports-token-1]", 1)
	c, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeys(c)
	if tn, ok := k.LookupReader("net-reports-token-1"); !ok || tn != "net" {
		t.Fatalf("read token: %v %v", tn, ok)
	}
	for _, key := range []string{"tenant-key-1", "msk-key-123", ""} {
		if _, ok := k.LookupReader(key); ok {
			t.Fatalf("%q must not work as a read token", key)
		}
	}
	if _, ok := k.Lookup("net-reports-token-1"); ok {
		t.Fatal("a read token must not work as a write key")
	}
	if _, ok := k.LookupTenant("net-reports-token-1"); ok {
		t.Fatal("a read token must not work as a tenant key")
	}
	shared := strings.Replace(strings.Replace(src, "net-reports-token-1", "shared-write-key-12", 1), "msk-key-123", "shared-write-key-12", 1)
	for name, bad := range map[string]string{
		"short":        strings.Replace(src, "net-reports-token-1", "short", 1),
		"a write key":  shared,
		"a tenant key": strings.Replace(src, "[tenant-key-1]", "[net-reports-token-1]", 1),
	} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "read_tokens") && !strings.Contains(err.Error(), "write_keys") {
			t.Errorf("%s: got %v, want an error naming the setting", name, err)
		}
	}
}

const poolSample = `
tenants:
  - id: net
    accounts:
      - id: msk
        write_keys: [msk-key-123]
        call_tracking:
          - provider: generic
            static_numbers: {"+74950000009": {channel: offline}}
          - provider: mango
            secret: salt
            number_pool:
              numbers: ["+74951110001", "+74951110002"]
              replace: ["+7 (495) 000-00-00", "+74950000000"]
              lease: 45m
      - id: spb
        write_keys: [spb-key-123]
        call_tracking:
          - provider: generic
            number_pool: {numbers: ["+78121110001"], replace: ["8 812 000-00-00"]}
`

func TestNumberPool(t *testing.T) {
	c, err := Parse([]byte(poolSample))
	if err != nil {
		t.Fatal(err)
	}
	_, msk := c.Find("net", "msk")
	p, provider := msk.NumberPool()
	if p == nil || provider != "mango" || len(p.Numbers) != 2 || p.LeaseOrDefault() != 45*time.Minute {
		t.Fatalf("msk pool: %+v %s", p, provider)
	}
	_, spb := c.Find("net", "spb")
	if p, _ := spb.NumberPool(); p == nil || p.LeaseOrDefault() != DefaultLease {
		t.Fatalf("spb pool takes the default lease: %+v", p)
	}
	if p, _ := (&Account{}).NumberPool(); p != nil {
		t.Fatal("an account without a pool has one")
	}
	// The files written before pools existed stay valid.
	if _, err := Parse([]byte(sample)); err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"not e164":   strings.Replace(poolSample, `"+74951110002"`, `"84951110002"`, 1),
		"twice":      strings.Replace(poolSample, `"+74951110002"`, `"+74951110001"`, 1),
		"static":     strings.Replace(poolSample, `"+74951110002"`, `"+74950000009"`, 1),
		"no replace": strings.Replace(poolSample, `replace: ["8 812 000-00-00"]`, `replace: []`, 1),
		"short":      strings.Replace(poolSample, `"8 812 000-00-00"`, `"12"`, 1),
		"lease":      strings.Replace(poolSample, "lease: 45m", "lease: 10s", 1),
		"empty":      strings.Replace(poolSample, `numbers: ["+78121110001"]`, `numbers: []`, 1),
		"two pools": strings.Replace(poolSample, `static_numbers: {"+74950000009": {channel: offline}}`,
			`number_pool: {numbers: ["+74950000001"], replace: ["+74950000000"]}`, 1),
	}
	want := map[string]string{
		"not e164": "accounts[0].call_tracking[1].number_pool.numbers[1]", "twice": "listed twice",
		"static": "also a static number", "no replace": "accounts[1].call_tracking[0].number_pool.replace",
		"short": "replace[0]", "lease": "number_pool.lease", "empty": "number_pool.numbers: empty",
		"two pools": "one number pool",
	}
	for name, doc := range bad {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: got %v, want an error naming %q", name, err, want[name])
		}
	}
}
