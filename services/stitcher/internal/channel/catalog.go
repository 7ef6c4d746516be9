package channel

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Catalog holds the default classifier and the tenants' own.
type Catalog struct {
	def     *Classifier
	tenants map[string]*Classifier
}

// NewCatalog compiles the defaults and one rule set per tenant.
func NewCatalog(tenantRules map[string]Rules) (*Catalog, error) {
	def, err := Compile(Rules{})
	if err != nil {
		return nil, err
	}
	c := &Catalog{def: def, tenants: map[string]*Classifier{}}
	names := make([]string, 0, len(tenantRules))
	for t := range tenantRules {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		cl, err := Compile(tenantRules[t])
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", t, err)
		}
		c.tenants[t] = cl
	}
	return c, nil
}

// LoadCatalog reads <dir>/<tenant>.yaml files; an empty dir means defaults only.
func LoadCatalog(dir string) (*Catalog, error) {
	rules := map[string]Rules{}
	if dir != "" {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return nil, fmt.Errorf("listing channel rules: %w", err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading channel rules: %w", err)
			}
			r, err := ParseRules(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			rules[strings.TrimSuffix(filepath.Base(f), ".yaml")] = r
		}
	}
	return NewCatalog(rules)
}

// For returns the classifier of a tenant.
func (c *Catalog) For(tenant string) *Classifier {
	if cl, ok := c.tenants[tenant]; ok {
		return cl
	}
	return c.def
}
