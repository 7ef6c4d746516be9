package rules

import (
	"testing"
	"testing/fstest"
)

// FuzzLoad: whatever a tenant's rules file holds, loading it either fails
// with an error or gives rules that pass their own validation; it never
// panics.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{acmeYAML, "", "rules: []\n", "rules:\n  - {name: x, kind: stuck_deals, stages: {a: 1d}}\n",
		"rules:\n  - {name: no-leads-channel, accounts: {msk: {window: 25h}}}\n", "targets:\n  - {name: t, type: webhook, url: 'http://x'}\n"} {
		f.Add(s)
	}
	ten := tenantsFromYAML(f)
	f.Fuzz(func(t *testing.T, body string) {
		c, err := Load(fstest.MapFS{"acme.yaml": {Data: []byte(body)}}, ten, env)
		if err != nil {
			return
		}
		s := c.Tenant("acme")
		for _, acc := range []string{"", "msk", "spb"} {
			for _, r := range s.ForAccount(acc) {
				if err := r.validate(); err != nil {
					t.Fatalf("loaded an invalid rule %q: %v", r.Name, err)
				}
			}
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90m", "7d", "1d12h", "-1h", "d", "99999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil && d < 0 {
			t.Fatalf("%q parsed to a negative %s", s, d)
		}
	})
}
