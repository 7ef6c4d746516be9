package tenants

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Key lengths: a site key is public and only has to be unguessable enough
// not to collide; a server key or tenant key is a secret.
const (
	minSiteKey   = 8
	minServerKey = 16
)

// validateKeys checks the account's site, server and legacy write keys:
// long enough, never shared with another account, and no key both public
// and secret.
func (a *Account) validateKeys(where, tenant string, keys map[string]string) error {
	owner := tenant + "/" + a.ID
	site := map[string]bool{}
	lists := []struct {
		name string
		keys []string
		min  int
	}{{"site_keys", a.SiteKeys, minSiteKey}, {"server_keys", a.ServerKeys, minServerKey}, {"write_keys", a.WriteKeys, minSiteKey}}
	for _, l := range lists {
		for k, key := range l.keys {
			if len(key) < l.min {
				return fmt.Errorf("%s.%s[%d]: shorter than %d characters", where, l.name, k, l.min)
			}
			if prev, ok := keys[key]; ok && prev != owner {
				return fmt.Errorf("%s.%s[%d]: already used by %s", where, l.name, k, prev)
			}
			if l.name == "site_keys" {
				site[key] = true
			} else if site[key] {
				return fmt.Errorf("%s.%s[%d]: also a site key; a site key is public (it is in every page), a server key must be secret", where, l.name, k)
			}
			keys[key] = owner
		}
	}
	return nil
}

// SiteKey is the key the account's pages use: its first site key, else
// its first legacy write key; "" when it has neither.
func (a *Account) SiteKey() string {
	if len(a.SiteKeys) > 0 {
		return a.SiteKeys[0]
	}
	if len(a.WriteKeys) > 0 {
		return a.WriteKeys[0]
	}
	return ""
}

// ServerKey is the key the account's integrations use: its first server
// key, else its first legacy write key; "" when it has neither.
func (a *Account) ServerKey() string {
	if len(a.ServerKeys) > 0 {
		return a.ServerKeys[0]
	}
	if len(a.WriteKeys) > 0 {
		return a.WriteKeys[0]
	}
	return ""
}

// LegacyKeyAccounts lists the accounts ("tenant/account") that still have
// write_keys — one key that is both public and secret. They keep working
// for this release; the process warns about each at start-up.
func (c *Config) LegacyKeyAccounts() []string {
	var out []string
	for _, t := range c.Tenants {
		for _, a := range t.Accounts {
			if len(a.WriteKeys) > 0 {
				out = append(out, t.ID+"/"+a.ID)
			}
		}
	}
	return out
}

// AmoSubdomain is the amoCRM account's subdomain its webhooks must name:
// Subdomain, else the first label of base_url's host when that host is a
// domain name of three or more labels ("https://acme.amocrm.ru" → "acme");
// "" when neither says.
func (c *CRM) AmoSubdomain() string {
	if s := strings.TrimSpace(c.Subdomain); s != "" {
		return strings.ToLower(s)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return ""
	}
	if i := strings.IndexByte(host, '.'); i > 0 && strings.Count(host, ".") >= 2 {
		return strings.ToLower(host[:i])
	}
	return ""
}
