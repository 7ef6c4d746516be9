// Package tenants loads the tenants → accounts → keys configuration used in the
// embedded mode, and answers which account a write key belongs to.
package tenants

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole tenants file.
type Config struct {
	Tenants []Tenant `yaml:"tenants"`
}

// Tenant is one franchise network.
type Tenant struct {
	ID       string    `yaml:"id"`
	Name     string    `yaml:"name"`
	Timezone string    `yaml:"timezone"`
	Currency string    `yaml:"currency"`
	Accounts []Account `yaml:"accounts"`
}

// Account is one branch with its write keys.
type Account struct {
	ID        string   `yaml:"id"`
	Name      string   `yaml:"name"`
	Timezone  string   `yaml:"timezone"`
	WriteKeys []string `yaml:"write_keys"`
}

// Load reads and validates a tenants file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading tenants file: %w", err)
	}
	return Parse(b)
}

// Parse decodes and validates tenants YAML.
func Parse(b []byte) (*Config, error) {
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parsing tenants file: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks ids, time zones and that no key is shared between accounts.
func (c *Config) Validate() error {
	if len(c.Tenants) == 0 {
		return errors.New("tenants: no tenant configured")
	}
	keys := map[string]string{}
	seen := map[string]bool{}
	for i, t := range c.Tenants {
		if !validID(t.ID) {
			return fmt.Errorf("tenants[%d].id: %q must be 1-64 of a-z, 0-9, _ and -", i, t.ID)
		}
		if seen[t.ID] {
			return fmt.Errorf("tenants[%d].id: duplicate %q", i, t.ID)
		}
		seen[t.ID] = true
		if t.Timezone != "" {
			if _, err := time.LoadLocation(t.Timezone); err != nil {
				return fmt.Errorf("tenants[%d].timezone: %w", i, err)
			}
		}
		accs := map[string]bool{}
		for j, a := range t.Accounts {
			where := fmt.Sprintf("tenants[%d].accounts[%d]", i, j)
			if !validID(a.ID) {
				return fmt.Errorf("%s.id: %q must be 1-64 of a-z, 0-9, _ and -", where, a.ID)
			}
			if accs[a.ID] {
				return fmt.Errorf("%s.id: duplicate %q", where, a.ID)
			}
			accs[a.ID] = true
			for k, key := range a.WriteKeys {
				if len(key) < 8 {
					return fmt.Errorf("%s.write_keys[%d]: shorter than 8 characters", where, k)
				}
				owner := t.ID + "/" + a.ID
				if prev, ok := keys[key]; ok && prev != owner {
					return fmt.Errorf("%s.write_keys[%d]: already used by %s", where, k, prev)
				}
				keys[key] = owner
			}
		}
	}
	return nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Principal is who a key authenticates as.
type Principal struct {
	Tenant  string
	Account string
}

// Keys resolves write keys. Keys are compared by their SHA-256 digest so the
// table never holds the keys themselves in a form that logging could leak.
type Keys struct {
	byDigest map[[32]byte]Principal
}

// NewKeys indexes the write keys of a config.
func NewKeys(c *Config) *Keys {
	k := &Keys{byDigest: map[[32]byte]Principal{}}
	for _, t := range c.Tenants {
		for _, a := range t.Accounts {
			for _, key := range a.WriteKeys {
				k.byDigest[sha256.Sum256([]byte(key))] = Principal{Tenant: t.ID, Account: a.ID}
			}
		}
	}
	return k
}

// Lookup returns the account a write key belongs to.
func (k *Keys) Lookup(key string) (Principal, bool) {
	if key == "" {
		return Principal{}, false
	}
	// The lookup is on a digest, so its timing says nothing useful about the key.
	p, ok := k.byDigest[sha256.Sum256([]byte(key))]
	return p, ok
}
