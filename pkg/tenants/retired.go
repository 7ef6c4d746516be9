package tenants

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// checkRetired refuses the credentials older demos wrote: they were
// sha256("throughline-demo/1/…") of public strings, the same on every
// installation, so anyone could compute them without reading the file.
// A tenants file that still holds one was written by such a demo (the
// all-in-one wrote seed 1); "throughline demo" replaces them with random
// ones, anything else must (docs/security.md, rotating keys).
func (t *Tenant) checkRetired(i int) error {
	at := fmt.Sprintf("tenants[%d]", i)
	refuse := func(field string) error {
		return fmt.Errorf("%s: a credential of the old demo that anyone can compute; replace it with a random one (openssl rand -hex 24; see docs/security.md)", field)
	}
	for k, key := range t.TenantKeys {
		if key == RetiredDemoSecret("tenant-key", t.ID, "demo_tk_") {
			return refuse(fmt.Sprintf("%s.tenant_keys[%d]", at, k))
		}
	}
	for k, tok := range t.ReadTokens {
		if tok == RetiredDemoSecret("read-token", t.ID, "demo_rt_") {
			return refuse(fmt.Sprintf("%s.read_tokens[%d]", at, k))
		}
	}
	for j := range t.Accounts {
		a := &t.Accounts[j]
		where := fmt.Sprintf("%s.accounts[%d]", at, j)
		old := RetiredDemoKey(a.ID)
		for _, l := range []struct {
			name string
			keys []string
		}{{"site_keys", a.SiteKeys}, {"server_keys", a.ServerKeys}, {"write_keys", a.WriteKeys}} {
			for k, key := range l.keys {
				if key == old {
					return refuse(fmt.Sprintf("%s.%s[%d]", where, l.name, k))
				}
			}
		}
		for k, ct := range a.CallTracking {
			if ct.Secret != "" && ct.Secret == RetiredDemoSecret("mango-salt", a.ID, "") {
				return refuse(fmt.Sprintf("%s.call_tracking[%d].secret", where, k))
			}
		}
		if c := a.CRM; c != nil && c.AppToken != "" &&
			(c.AppToken == RetiredDemoSecret("b24-app-token", a.ID, "") || c.AppToken == RetiredDemoSecret("amo-token", a.ID, "")) {
			return refuse(where + ".crm.app_token")
		}
	}
	return nil
}

// RetiredDemoKey is the write key older demos computed for an account.
func RetiredDemoKey(account string) string {
	sum := sha256.Sum256([]byte("throughline-demo/1/" + account))
	return "demo_" + hex.EncodeToString(sum[:12])
}

// retiredDemoSecret is any other secret older demos computed.
func RetiredDemoSecret(kind, id, prefix string) string {
	sum := sha256.Sum256([]byte("throughline-demo/1/" + kind + "/" + id))
	return prefix + hex.EncodeToString(sum[:12])
}
