package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/throughline/throughline/pkg/tenants"
)

// DefaultYAML are the rules every tenant starts from.
//
//go:embed default.yaml
var DefaultYAML []byte

// DefaultFile is the name of the file in a rules directory that is layered
// over the embedded defaults for every tenant.
const DefaultFile = "default.yaml"

// file is one rules file: the embedded defaults, the directory's
// default.yaml, or a tenant's <tenant>.yaml.
type file struct {
	Targets []targetFile `yaml:"targets"`
	Rules   []yaml.Node  `yaml:"rules"`
}

// Set is the resolved configuration of one tenant.
type Set struct {
	Tenant  string
	Rules   []*Rule // enabled rules, tenant-level settings
	Targets []Target
	// accounts holds the enabled rules of accounts with overrides.
	accounts map[string][]*Rule
}

// ForAccount returns the enabled rules of an account.
func (s *Set) ForAccount(account string) []*Rule {
	if r, ok := s.accounts[account]; ok {
		return r
	}
	return s.Rules
}

// Target returns the target named name.
func (s *Set) Target(name string) (Target, bool) {
	for _, t := range s.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// TargetsOf are the targets a rule's alerts go to.
func (s *Set) TargetsOf(r *Rule) []Target {
	if len(r.Targets) == 0 {
		return s.Targets
	}
	out := make([]Target, 0, len(r.Targets))
	for _, n := range r.Targets {
		if t, ok := s.Target(n); ok {
			out = append(out, t)
		}
	}
	return out
}

// Catalog holds every tenant's Set.
type Catalog struct {
	sets     map[string]*Set
	fallback []layer // rules of tenants the tenants file does not list
}

// Tenant returns a tenant's set: its own file layered over the defaults, or
// the defaults alone (no targets) for a tenant without a file.
func (c *Catalog) Tenant(id string) *Set {
	if s, ok := c.sets[id]; ok {
		return s
	}
	s, err := resolve(id, c.fallback, nil, nil)
	if err != nil { // the same layers resolved for every listed tenant
		return &Set{Tenant: id}
	}
	c.sets[id] = s
	return s
}

// Tenants are the tenants with a resolved set, sorted.
func (c *Catalog) Tenants() []string { return sortedKeys(c.sets) }

// layer is one file's rules, by name, in file order.
type layer struct {
	file  string
	rules []*yaml.Node
}

// Load reads the embedded defaults, then dir's default.yaml and
// <tenant>.yaml files (dir may be nil: defaults only), and resolves every
// tenant of ts. Errors name the file, the rule and the setting.
func Load(dir fs.FS, ts *tenants.Config, env Env) (*Catalog, error) {
	base, _, err := parseFile("(embedded default.yaml)", DefaultYAML)
	if err != nil {
		return nil, err
	}
	layers := []layer{base}
	tenantFiles := map[string]string{}
	if dir != nil {
		entries, err := fs.ReadDir(dir, ".")
		if err != nil {
			return nil, fmt.Errorf("reading alert rules directory: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			ext := path.Ext(name)
			if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
				continue
			}
			id := strings.TrimSuffix(name, ext)
			if id == strings.TrimSuffix(DefaultFile, ".yaml") {
				b, err := fs.ReadFile(dir, name)
				if err != nil {
					return nil, fmt.Errorf("reading alert rules %s: %w", name, err)
				}
				l, targets, err := parseFile(name, b)
				if err != nil {
					return nil, err
				}
				if len(targets) > 0 {
					return nil, fmt.Errorf("alert rules %s: targets: belong in a tenant's file, not the defaults", name)
				}
				layers = append(layers, l)
				continue
			}
			tenantFiles[id] = name
		}
	}
	c := &Catalog{sets: map[string]*Set{}, fallback: layers}
	known := map[string]*tenants.Tenant{}
	if ts != nil {
		for i := range ts.Tenants {
			known[ts.Tenants[i].ID] = &ts.Tenants[i]
		}
	}
	for _, id := range sortedKeys(tenantFiles) {
		if known[id] == nil {
			return nil, fmt.Errorf("alert rules %s: no tenant %q in the tenants file", tenantFiles[id], id)
		}
	}
	for _, id := range sortedKeys(known) {
		tl := layers
		var targets []targetFile
		if name, ok := tenantFiles[id]; ok {
			b, err := fs.ReadFile(dir, name)
			if err != nil {
				return nil, fmt.Errorf("reading alert rules %s: %w", name, err)
			}
			l, tf, err := parseFile(name, b)
			if err != nil {
				return nil, err
			}
			tl = append(append([]layer{}, layers...), l)
			targets = tf
		}
		resolved, err := resolve(id, tl, targets, known[id])
		if err != nil {
			return nil, err
		}
		if err := resolveTargets(resolved, tenantFiles[id], targets, env); err != nil {
			return nil, err
		}
		c.sets[id] = resolved
	}
	// The defaults alone must resolve too: they apply to unlisted tenants.
	if _, err := resolve("", layers, nil, nil); err != nil {
		return nil, err
	}
	return c, nil
}

func parseFile(name string, b []byte) (layer, []targetFile, error) {
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return layer{}, nil, fmt.Errorf("alert rules %s: %w", name, err)
	}
	l := layer{file: name}
	seen := map[string]bool{}
	for i := range f.Rules {
		n := &f.Rules[i]
		if n.Kind != yaml.MappingNode {
			return l, nil, fmt.Errorf("alert rules %s: rules[%d]: not a mapping", name, i)
		}
		rn := scalar(n, "name")
		if rn == "" {
			return l, nil, fmt.Errorf("alert rules %s: rules[%d]: name: required", name, i)
		}
		if seen[rn] {
			return l, nil, fmt.Errorf("alert rules %s: rule %q: name: defined twice in this file", name, rn)
		}
		seen[rn] = true
		l.rules = append(l.rules, n)
	}
	return l, f.Targets, nil
}

// scalar is the value of key in a mapping node, "" if absent.
func scalar(n *yaml.Node, key string) string {
	if v := value(n, key); v != nil {
		return v.Value
	}
	return ""
}

func value(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// resolve layers the rules of every file and validates the result.
func resolve(tenant string, layers []layer, targets []targetFile, t *tenants.Tenant) (*Set, error) {
	type acc struct {
		rule     *Rule
		file     string
		accounts map[string][]*yaml.Node
	}
	var order []string
	byName := map[string]*acc{}
	for _, l := range layers {
		for _, n := range l.rules {
			name := scalar(n, "name")
			a := byName[name]
			kind := Kind(scalar(n, "kind"))
			if a == nil {
				if kind == "" {
					return nil, fmt.Errorf("alert rules %s: rule %q: kind: required for a new rule (it overrides no default of that name)", l.file, name)
				}
				if _, ok := settings[kind]; !ok {
					return nil, fmt.Errorf("alert rules %s: rule %q: kind: %q is not one of %s", l.file, name, kind, kindList())
				}
				r := defaults(kind)
				a = &acc{rule: &r, accounts: map[string][]*yaml.Node{}}
				byName[name] = a
				order = append(order, name)
			} else if kind != "" && kind != a.rule.Kind {
				return nil, fmt.Errorf("alert rules %s: rule %q: kind: %s cannot change to %s; give the new rule another name", l.file, name, a.rule.Kind, kind)
			}
			a.file = l.file
			if err := decodeOnto(a.rule, n, false); err != nil {
				return nil, fmt.Errorf("alert rules %s: rule %q: %w", l.file, name, err)
			}
			if accs := value(n, "accounts"); accs != nil {
				if accs.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("alert rules %s: rule %q: accounts: a mapping of account id to settings", l.file, name)
				}
				for i := 0; i+1 < len(accs.Content); i += 2 {
					id := accs.Content[i].Value
					a.accounts[id] = append(a.accounts[id], accs.Content[i+1])
				}
			}
		}
	}
	s := &Set{Tenant: tenant, accounts: map[string][]*Rule{}}
	names := make([]string, len(targets))
	for i, tf := range targets {
		names[i] = tf.Name
	}
	all := map[string]*Rule{}
	for _, name := range order {
		a := byName[name]
		r := a.rule
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("alert rules %s: rule %q: %w", a.file, name, err)
		}
		for _, tn := range r.Targets {
			if !contains(names, tn) {
				return nil, fmt.Errorf("alert rules %s: rule %q: targets: no target %q in this tenant's targets", a.file, name, tn)
			}
		}
		all[name] = r
		if r.Enabled {
			s.Rules = append(s.Rules, r)
		}
		if len(a.accounts) > 0 && r.TenantWide() {
			return nil, fmt.Errorf("alert rules %s: rule %q: accounts: the rule covers the whole network (scope %s), it has no per-account settings", a.file, name, r.Scope)
		}
		for _, id := range sortedKeys(a.accounts) {
			if t != nil && !hasAccount(t, id) {
				return nil, fmt.Errorf("alert rules %s: rule %q: accounts.%s: no such account in tenant %s", a.file, name, id, tenant)
			}
		}
	}
	// Accounts with overrides get their own resolved list.
	accountIDs := map[string]bool{}
	for _, a := range byName {
		for id := range a.accounts {
			accountIDs[id] = true
		}
	}
	for _, id := range sortedKeys(accountIDs) {
		var list []*Rule
		for _, name := range order {
			a := byName[name]
			r := a.rule
			if nodes := a.accounts[id]; len(nodes) > 0 {
				c := r.clone()
				for _, n := range nodes {
					if err := decodeOnto(c, n, true); err != nil {
						return nil, fmt.Errorf("alert rules %s: rule %q: accounts.%s.%w", a.file, name, id, err)
					}
				}
				if err := c.validate(); err != nil {
					return nil, fmt.Errorf("alert rules %s: rule %q: accounts.%s.%w", a.file, name, id, err)
				}
				r = c
			}
			if r.Enabled {
				list = append(list, r)
			}
		}
		s.accounts[id] = list
	}
	return s, nil
}

// decodeOnto sets the settings a node names on r, after checking that each
// is a setting of r's kind.
func decodeOnto(r *Rule, n *yaml.Node, account bool) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if !allowed(r.Kind, key) {
			return ferr(key, "not a setting of kind %s (it takes %s)", r.Kind, strings.Join(append(append([]string{}, common...), settings[r.Kind]...), ", "))
		}
		if account && (key == "name" || key == "kind" || key == "accounts") {
			return ferr(key, "cannot be set per account")
		}
	}
	// One setting at a time, so an error names the setting.
	for i := 0; i+1 < len(n.Content); i += 2 {
		one := &yaml.Node{Kind: yaml.MappingNode, Content: n.Content[i : i+2]}
		if err := one.Decode(r); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) && len(te.Errors) > 0 {
				err = errors.New(te.Errors[0])
			}
			return ferr(n.Content[i].Value, "%v", err)
		}
	}
	return nil
}

func (r *Rule) clone() *Rule {
	c := *r
	c.Targets = append([]string(nil), r.Targets...)
	c.Channels = append([]string(nil), r.Channels...)
	c.Sources = append([]string(nil), r.Sources...)
	if r.Stages != nil {
		c.Stages = make(map[string]Duration, len(r.Stages))
		for k, v := range r.Stages {
			c.Stages[k] = v
		}
	}
	return &c
}

func resolveTargets(s *Set, file string, targets []targetFile, env Env) error {
	seen := map[string]bool{}
	for i := range targets {
		t, err := targets[i].resolve(env)
		if err != nil {
			return fmt.Errorf("alert rules %s: targets[%d] (%s): %w", file, i, targets[i].Name, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("alert rules %s: targets[%d]: name: %q defined twice", file, i, t.Name)
		}
		seen[t.Name] = true
		s.Targets = append(s.Targets, t)
	}
	return nil
}

func hasAccount(t *tenants.Tenant, id string) bool {
	for _, a := range t.Accounts {
		if a.ID == id {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
