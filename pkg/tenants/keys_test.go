package tenants

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const twoKinds = `
tenants:
  - id: net
    accounts:
      - id: msk
        site_keys: [msk-site-key]
        server_keys: [msk-server-key-0123456]
        crm: {provider: amocrm, base_url: "https://acme.amocrm.ru"}
      - id: spb
        write_keys: [spb-legacy-key]
`

func TestSiteAndServerKeys(t *testing.T) {
	c, err := Parse([]byte(twoKinds))
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeys(c)
	cases := []struct {
		key  string
		want Principal
	}{
		{"msk-site-key", Principal{Tenant: "net", Account: "msk"}},
		{"msk-server-key-0123456", Principal{Tenant: "net", Account: "msk", Server: true}},
		{"spb-legacy-key", Principal{Tenant: "net", Account: "spb", Server: true}}, // both, for one release
	}
	for _, tc := range cases {
		if p, ok := k.Lookup(tc.key); !ok || p != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.key, p, ok, tc.want)
		}
	}
	if got := c.LegacyKeyAccounts(); len(got) != 1 || got[0] != "net/spb" {
		t.Errorf("legacy accounts %v", got)
	}
	if _, a := c.Find("net", "msk"); a.SiteKey() != "msk-site-key" || a.ServerKey() != "msk-server-key-0123456" || a.CRM.AmoSubdomain() != "acme" {
		t.Errorf("msk: %q %q %q", a.SiteKey(), a.ServerKey(), a.CRM.AmoSubdomain())
	}
}

func TestKeysRefused(t *testing.T) {
	cases := map[string]struct{ from, to, want string }{
		"short server key":       {"msk-server-key-0123456", "short-srv", "server_keys[0]: shorter than 16"},
		"amocrm, no subdomain":   {`base_url: "https://acme.amocrm.ru"`, `base_url: "http://127.0.0.1:9"`, "crm.subdomain"},
		"computed demo key":      {"spb-legacy-key", RetiredDemoKey("spb"), "anyone can compute"},
		"shared across accounts": {"spb-legacy-key", "msk-site-key", "already used by net/msk"},
	}
	for name, tc := range cases {
		_, err := Parse([]byte(strings.Replace(twoKinds, tc.from, tc.to, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
	// A site key is public: it must not also be a server key.
	both := strings.Replace(twoKinds, "site_keys: [msk-site-key]", "site_keys: [msk-server-key-0123456]", 1)
	if _, err := Parse([]byte(both)); err == nil || !strings.Contains(err.Error(), "also a site key") {
		t.Errorf("a key both public and secret: %v", err)
	}
}

func TestSecretsFromFilesAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "msk.keys"), []byte("# rotated 2026-12\nfile-server-key-0123456\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NET_READ_TOKENS", "env-read-token-0123456, env-read-token-6543210")
	t.Setenv("MSK_SALT", "mango-salt-from-env")
	yaml := `
tenants:
  - id: net
    read_tokens_env: NET_READ_TOKENS
    accounts:
      - id: msk
        site_keys: [msk-site-key]
        server_keys_file: msk.keys
        call_tracking: [{provider: mango, secret_env: MSK_SALT}]
`
	path := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeys(c)
	if p, ok := k.Lookup("file-server-key-0123456"); !ok || !p.Server {
		t.Errorf("server key from the file: %+v %v", p, ok)
	}
	for _, tok := range []string{"env-read-token-0123456", "env-read-token-6543210"} {
		if tn, ok := k.LookupReader(tok); !ok || tn != "net" {
			t.Errorf("read token %s from the environment: %q %v", tok, tn, ok)
		}
	}
	if _, a := c.Find("net", "msk"); a.CallTracking[0].Secret != "mango-salt-from-env" {
		t.Errorf("mango salt %q", a.CallTracking[0].Secret)
	}
	// A reference that resolves to nothing is an error naming it.
	os.Unsetenv("MSK_SALT")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "secret_env: $MSK_SALT is not set") {
		t.Errorf("unset variable: %v", err)
	}
}
