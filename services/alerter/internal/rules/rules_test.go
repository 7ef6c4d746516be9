package rules

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

const tenantsYAML = `
tenants:
  - id: acme
    timezone: Europe/Moscow
    accounts: [{id: msk}, {id: spb}]
  - id: other
    accounts: [{id: a}]
`

func tenantsCfg(t *testing.T) *tenants.Config { return tenantsFromYAML(t) }

func tenantsFromYAML(t testing.TB) *tenants.Config {
	t.Helper()
	c, err := tenants.Parse([]byte(tenantsYAML))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var env = Env(func(name string) (string, bool) {
	v, ok := map[string]string{"TG": "123:abc", "SLACK": "https://hooks.slack.example/T/B/x", "SECRET": "s3"}[name]
	return v, ok
})

const acmeYAML = `
targets:
  - name: ops
    type: telegram
    token_env: TG
    chat_id: "-100"
  - name: chat
    type: slack
    url_env: SLACK
    min_severity: critical
  - name: bi
    type: webhook
    url: https://bi.example/hook
    secret_env: SECRET
rules:
  - name: no-leads-channel
    window: 90m
    targets: [ops]
    accounts:
      spb: {enabled: false}
      msk: {window: 2h, channels: [yandex_direct]}
  - name: stuck-deals
    enabled: false
  - name: cpl-direct
    kind: cpl
    channels: [yandex_direct]
    max: 2500
    factor: 0
`

func load(t *testing.T, files map[string]string) (*Catalog, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return Load(fsys, tenantsCfg(t), env)
}

func find(rs []*Rule, name string) *Rule {
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func TestDefaultsResolveForEveryKind(t *testing.T) {
	c, err := Load(nil, tenantsCfg(t), env)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Tenant("acme")
	kinds := map[Kind]bool{}
	for _, r := range s.Rules {
		kinds[r.Kind] = true
	}
	for _, k := range Kinds {
		if !kinds[k] {
			t.Errorf("no default rule of kind %s", k)
		}
	}
	if len(s.Targets) != 0 {
		t.Errorf("a tenant without a file has no targets, got %v", s.Targets)
	}
	if got := c.Tenant("unlisted"); len(got.Rules) != len(s.Rules) {
		t.Errorf("a tenant missing from the tenants file gets the defaults: %d rules", len(got.Rules))
	}
}

func TestTenantFileLayersOverDefaults(t *testing.T) {
	c, err := load(t, map[string]string{"acme.yaml": acmeYAML, "default.yaml": "rules:\n  - {name: missed-calls, max_share: 0.5}\n"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Tenant("acme")
	nl := find(s.Rules, "no-leads-channel")
	if nl == nil || nl.Window.D() != 90*time.Minute || nl.Probability != 0.001 || !nl.BusinessHours {
		t.Fatalf("no-leads-channel: the tenant's window over the defaults' other settings: %+v", nl)
	}
	if find(s.Rules, "stuck-deals") != nil {
		t.Error("a rule turned off is not listed")
	}
	cpl := find(s.Rules, "cpl-direct")
	if cpl == nil || cpl.Max != 2500 || cpl.Factor != 0 || cpl.MinCost != 1000 || cpl.Scope != ScopeTenantChannel {
		t.Fatalf("a new rule starts from its kind's defaults: %+v", cpl)
	}
	if mc := find(s.Rules, "missed-calls"); mc.MaxShare != 0.5 {
		t.Errorf("the directory's default.yaml applies to every tenant: %v", mc.MaxShare)
	}
	if mc := find(c.Tenant("other").Rules, "missed-calls"); mc.MaxShare != 0.5 {
		t.Errorf("the directory's default.yaml applies to tenants without a file: %v", mc.MaxShare)
	}
	if find(s.ForAccount("spb"), "no-leads-channel") != nil {
		t.Error("spb turned the rule off")
	}
	msk := find(s.ForAccount("msk"), "no-leads-channel")
	if msk == nil || msk.Window.D() != 2*time.Hour || !msk.MatchesChannel("yandex_direct") || msk.MatchesChannel("google_ads") {
		t.Errorf("msk's override: %+v", msk)
	}
	if nl.Window.D() != 90*time.Minute || len(nl.Channels) != 0 {
		t.Error("an account's override must not leak into the tenant's rule")
	}
	if got := s.TargetsOf(nl); len(got) != 1 || got[0].Name != "ops" {
		t.Errorf("targets of no-leads-channel: %v", got)
	}
	if got := s.TargetsOf(cpl); len(got) != 3 {
		t.Errorf("a rule without targets goes to all: %v", got)
	}
	tg, _ := s.Target("ops")
	if tg.URL != "https://api.telegram.org/bot123:abc/sendMessage" || tg.ParseMode != "HTML" {
		t.Errorf("telegram target: %+v", tg)
	}
	if strings.Contains(tg.Redacted(), "abc") {
		t.Error("Redacted shows the token")
	}
	sl, _ := s.Target("chat")
	if sl.URL != "https://hooks.slack.example/T/B/x" || sl.Accepts("warning") || !sl.Accepts("critical") {
		t.Errorf("slack target: %+v", sl)
	}
	bi, _ := s.Target("bi")
	if bi.Secret != "s3" {
		t.Errorf("webhook secret from the environment: %+v", bi)
	}
}

func TestErrorsNameFileRuleAndField(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown kind", "rules:\n  - {name: x, kind: vibes}\n", `acme.yaml: rule "x": kind: "vibes" is not one of`},
		{"new rule without kind", "rules:\n  - {name: x, window: 1h}\n", `acme.yaml: rule "x": kind: required`},
		{"setting of another kind", "rules:\n  - {name: missed-calls, probability: 0.1}\n", `rule "missed-calls": probability: not a setting of kind missed_calls`},
		{"typo", "rules:\n  - {name: no-leads-channel, windw: 1h}\n", `rule "no-leads-channel": windw: not a setting`},
		{"bad duration", "rules:\n  - {name: no-leads-channel, window: soon}\n", `rule "no-leads-channel": window: "soon" is not a duration`},
		{"probability", "rules:\n  - {name: no-leads-channel, probability: 2}\n", `rule "no-leads-channel": probability: 2 is not a probability`},
		{"share", "rules:\n  - {name: missed-calls, max_share: 1.5}\n", `rule "missed-calls": max_share: 1.5`},
		{"scope", "rules:\n  - {name: cpl-spike, scope: account}\n", `rule "cpl-spike": scope: "account" is not one of`},
		{"neither max nor factor", "rules:\n  - {name: c, kind: cost, factor: 0}\n", `rule "c": max: set max`},
		{"min_days over the kept days", "rules:\n  - {name: cost-spike, min_days: 29}\n", `rule "cost-spike": min_days: 29, must be 1 to 28`},
		{"kind change", "rules:\n  - {name: missed-calls, kind: cost}\n", `rule "missed-calls": kind: missed_calls cannot change to cost`},
		{"unknown account", "rules:\n  - {name: missed-calls, accounts: {kzn: {enabled: false}}}\n", `rule "missed-calls": accounts.kzn: no such account`},
		{"account field", "rules:\n  - {name: missed-calls, accounts: {msk: {max_share: -1}}}\n", `rule "missed-calls": accounts.msk.max_share: -1`},
		{"account name", "rules:\n  - {name: missed-calls, accounts: {msk: {name: y}}}\n", `accounts.msk.name: cannot be set per account`},
		{"tenant-wide per account", "rules:\n  - {name: cpl-spike, accounts: {msk: {factor: 4}}}\n", `rule "cpl-spike": accounts: the rule covers the whole network`},
		{"unknown target", "rules:\n  - {name: missed-calls, targets: [pager]}\n", `rule "missed-calls": targets: no target "pager"`},
		{"twice", "rules:\n  - {name: a, kind: cost, max: 1}\n  - {name: a, kind: cost, max: 2}\n", `rule "a": name: defined twice`},
		{"bad name", "rules:\n  - {name: 'No Leads', kind: cost, max: 1}\n", `rule "No Leads": name:`},
		{"unset env", "targets:\n  - {name: t, type: telegram, token_env: NOPE, chat_id: '1'}\n", `targets[0] (t): token_env: $NOPE is not set`},
		{"no chat", "targets:\n  - {name: t, type: telegram, token_env: TG}\n", `targets[0] (t): chat_id: required`},
		{"bad type", "targets:\n  - {name: t, type: pager, url: 'https://x'}\n", `targets[0] (t): type: "pager"`},
		{"bad url", "targets:\n  - {name: t, type: webhook, url: 'ftp://x'}\n", `targets[0] (t): url: not an http(s) URL`},
		{"two secrets", "targets:\n  - {name: t, type: webhook, url: 'https://x', secret: a, secret_env: SECRET}\n", `targets[0] (t): secret: set only one`},
		{"unknown top-level", "rulez: []\n", `acme.yaml: yaml: unmarshal errors`},
		{"stage", "rules:\n  - {name: stuck-deals, stages: {new: 0s}}\n", `rule "stuck-deals": stages.new: must be positive`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, map[string]string{"acme.yaml": tc.yaml})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
	if _, err := load(t, map[string]string{"nobody.yaml": "rules: []\n"}); err == nil || !strings.Contains(err.Error(), `nobody.yaml: no tenant "nobody"`) {
		t.Errorf("a file of an unknown tenant: %v", err)
	}
	if _, err := load(t, map[string]string{"acme.yaml": ""}); err != nil {
		t.Errorf("an empty file is fine: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "4h30m": 270 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "d", "-1h", "3x", "1dd"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestFamily(t *testing.T) {
	for src, want := range map[string]string{"pixel": "site", "api": "site", "hook:mango": "calls", "crm:amocrm": "crm", "costs:yandex": "costs", "other": "other"} {
		if got := Family(src); got != want {
			t.Errorf("Family(%s) = %s, want %s", src, got, want)
		}
	}
}
