package tenants

import (
	"strings"
	"testing"
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
        crm: {provider: amocrm}
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
	if p, ok := k.Lookup("msk-key-123"); !ok || p != (Principal{"net", "msk"}) {
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

func TestValidateNamesTheSetting(t *testing.T) {
	cases := map[string]string{
		"shared key":    strings.Replace(sample, "spb-key-123", "msk-key-123", 1),
		"bad zone":      strings.Replace(sample, "Europe/Moscow", "Mars/Olympus", 1),
		"bad margin":    strings.Replace(sample, "margin: 0.3", "margin: 3", 1),
		"mango no salt": strings.Replace(sample, "secret: salt", "secret: ''", 1),
		"bad number":    strings.Replace(sample, "+74950000000", "84950000000", 1),
		"bitrix no url": strings.Replace(sample, `base_url: "https://x.bitrix24.ru/rest/1/abc/", `, "", 1),
		"bad id":        strings.Replace(sample, "id: spb", "id: SPB!", 1),
	}
	want := map[string]string{
		"shared key": "already used by net/msk", "bad zone": "timezone", "bad margin": "margin",
		"mango no salt": "secret", "bad number": "static_numbers", "bitrix no url": "base_url", "bad id": "accounts[1].id",
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
