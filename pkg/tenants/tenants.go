// Package tenants loads the tenants → accounts → keys configuration used in the
// embedded mode, and answers which account a write key belongs to.
package tenants

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/phone"
	"gopkg.in/yaml.v3"
)

// Config is the whole tenants file.
type Config struct {
	Tenants []Tenant `yaml:"tenants"`
	// ClickHouse holds the admin user of the ClickHouse HTTP interface.
	ClickHouse ClickHouse `yaml:"clickhouse,omitempty"`
}

// Tenant is one franchise network.
type Tenant struct {
	ID       string  `yaml:"id"`
	Name     string  `yaml:"name"`
	Timezone string  `yaml:"timezone"` // IANA zone of reports and alerts, default UTC
	Currency string  `yaml:"currency"` // ISO 4217 of costs and revenue, default RUB
	Margin   float64 `yaml:"margin"`   // gross margin for ROMI, 0..1
	// OwnDomains are the network's own sites (every branch's): a referrer
	// on one of them, or on a subdomain, is internal navigation, not a
	// referral (the page's own registrable domain always is).
	OwnDomains []string `yaml:"own_domains"`
	// TenantKeys authenticate central uploads (ad costs bought centrally)
	// and may write for any account of this tenant where an endpoint allows it.
	TenantKeys []string `yaml:"tenant_keys"`
	// ReadTokens are Bearer tokens of the console's report API: a token
	// reads this tenant's reports and nothing of any other tenant.
	ReadTokens []string `yaml:"read_tokens"`
	// ClickHouseUsers are read-only users of the ClickHouse HTTP interface
	// that see only this tenant's rows (BI tools, notebooks, clickhouse-go).
	ClickHouseUsers []ClickHouseUser `yaml:"clickhouse_users,omitempty"`
	RateLimit       RateLimit        `yaml:"rate_limit"` // per key, default for the tenant's keys
	Accounts        []Account        `yaml:"accounts"`
	// The same secrets kept out of the file (secrets.go): *_file is a file
	// with one per line, *_env an environment variable with them
	// comma-separated. They add to the lists above.
	TenantKeysFile string `yaml:"tenant_keys_file,omitempty"`
	TenantKeysEnv  string `yaml:"tenant_keys_env,omitempty"`
	ReadTokensFile string `yaml:"read_tokens_file,omitempty"`
	ReadTokensEnv  string `yaml:"read_tokens_env,omitempty"`
	// BusinessHours of the tenant's branches, unless a branch sets its own
	// (alerts that watch business hours only, see hours.go).
	BusinessHours *BusinessHours `yaml:"business_hours"`
	// CostConnectors pull centrally bought spend (costconnectors.go).
	CostConnectors []CostConnector `yaml:"cost_connectors"`
	// DedupWindow is how long an accepted event id keeps its repeats out of
	// the tables ("168h"; at most 720h); 0 keeps the pipeline's default
	// (docs/design/event-idempotency.md).
	DedupWindow time.Duration `yaml:"dedup_window"`
	// PhoneRegion is the region (ISO 3166-1 alpha-2) phone numbers written
	// without a country code are read in, unless a branch sets its own;
	// default phone.DefaultRegion (RU).
	PhoneRegion string `yaml:"phone_region"`
	// PIISalt keys the HMAC that phones and e-mails are published under
	// (pkg/pii): generated (e.g. `openssl rand -hex 32`), never derived, and
	// never changed while identities keyed on it must keep matching.
	PIISalt string `yaml:"pii_salt"`
}

// MaxDedupWindow is the longest DedupWindow: the event_ids table keeps ids
// a day longer.
const MaxDedupWindow = 30 * 24 * time.Hour

// DedupWindow is the tenant's own deduplication window, if it sets one.
func (c *Config) DedupWindow(tenant string) (time.Duration, bool) {
	if c == nil {
		return 0, false
	}
	for i := range c.Tenants {
		if c.Tenants[i].ID == tenant && c.Tenants[i].DedupWindow > 0 {
			return c.Tenants[i].DedupWindow, true
		}
	}
	return 0, false
}

// minPIISalt is the shortest salt accepted: 128 bits written in hex.
const minPIISalt = 32

// Region is the phone region of an account of the tenant (nil: the
// tenant's own): the account's phone_region, else the tenant's, else RU.
func (t *Tenant) Region(a *Account) string {
	if a != nil && a.PhoneRegion != "" {
		return a.PhoneRegion
	}
	if t != nil && t.PhoneRegion != "" {
		return t.PhoneRegion
	}
	return phone.DefaultRegion
}

// RateLimit is a token bucket per key.
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"` // 0 = unlimited
	Burst     int     `yaml:"burst"`
}

// Account is one branch with its keys and its integrations.
//
// Its keys are of two kinds (docs/security.md). A site key is public — it
// sits in every page of the branch's site — and can only do what a page
// does: pixel hits, browser events, number leases. A server key is secret
// and is what calls, CRM deals, chats and costs need: those make leads and
// revenue, so a key anyone can read from a page must not make them.
type Account struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Timezone   string   `yaml:"timezone"`
	OwnDomains []string `yaml:"own_domains"` // the branch's sites, besides the tenant's
	// SiteKeys are the public keys of the branch's pages.
	SiteKeys []string `yaml:"site_keys,omitempty"`
	// ServerKeys are the secret keys of its integrations and back office.
	ServerKeys []string `yaml:"server_keys,omitempty"`
	// WriteKeys are the keys of configs from before the split: each is both
	// a site and a server key. Still accepted for one release, with a
	// warning at start-up (LegacyKeyAccounts).
	WriteKeys []string `yaml:"write_keys,omitempty"`
	// Server keys kept out of the file (see Tenant.TenantKeysFile).
	ServerKeysFile string         `yaml:"server_keys_file,omitempty"`
	ServerKeysEnv  string         `yaml:"server_keys_env,omitempty"`
	CallTracking   []CallTracking `yaml:"call_tracking"`
	CRM            *CRM           `yaml:"crm"`
	// Chats are the chat widgets whose webhooks report this branch's chats.
	Chats []ChatWidget `yaml:"chats"`
	// BusinessHours override the tenant's for this branch.
	BusinessHours *BusinessHours `yaml:"business_hours"`
	// CostConnectors pull this branch's ad spend daily (costconnectors.go).
	CostConnectors []CostConnector `yaml:"cost_connectors"`
	// PhoneRegion overrides the tenant's (a Kyiv branch of a Moscow network
	// sets UA).
	PhoneRegion string `yaml:"phone_region"`
}

// CallTracking is one call-tracking service connected to an account.
type CallTracking struct {
	Provider string `yaml:"provider"` // generic, calltouch, comagic, mango, alloka, callibri
	// Secret verifies the vendor's signature where it signs (mango: the API
	// salt); for alloka and callibri, which sign nothing, it must arrive as
	// ?token= in the URL they are given.
	Secret string `yaml:"secret"`
	// SecretFile and SecretEnv keep the secret out of the file (secrets.go).
	SecretFile string `yaml:"secret_file,omitempty"`
	SecretEnv  string `yaml:"secret_env,omitempty"`
	// StaticNumbers maps tracking numbers (E.164) that are not substituted per
	// visitor to the channel they are advertised in.
	StaticNumbers map[string]StaticNumber `yaml:"static_numbers"`
	// NumberPool is Throughline's own dynamic number insertion: numbers of
	// this provider that the collector's GET /v1/numbers leases to visitors,
	// so a call to one is linked to the visitor it was shown to.
	NumberPool *NumberPool `yaml:"number_pool"`
}

// ChatWidget is one chat widget connected to an account.
type ChatWidget struct {
	Provider string `yaml:"provider"` // generic, jivo
	// Token, when set, must arrive as ?token= in the webhook URL: Jivo signs
	// nothing, so a secret in the address it is given is its only check
	// besides the write key.
	Token string `yaml:"token"`
}

// NumberPool is an account's pool of tracking numbers substituted per visitor.
type NumberPool struct {
	Numbers []string `yaml:"numbers"` // E.164
	// Replace is the site's default phone as it appears in its pages: the
	// text shown and/or the digits of its tel: links. The tracker replaces
	// these with the leased number.
	Replace []string `yaml:"replace"`
	// Lease is how long a number stays with a visitor after their last page
	// view; default DefaultLease.
	Lease time.Duration `yaml:"lease"`
}

// DefaultLease is a pool number's lease when the pool sets none.
const DefaultLease = 30 * time.Minute

// Pool limits: a lease shorter than a minute cannot outlive a page view; a
// lease longer than a day would need a pool as large as a day's visitors.
// The stitcher keeps at most 2048 leases per account, so a larger pool
// could not be told apart.
const (
	minLease    = time.Minute
	maxLease    = 24 * time.Hour
	maxPoolSize = 1000
)

// LeaseOrDefault is the pool's lease duration.
func (p *NumberPool) LeaseOrDefault() time.Duration {
	if p.Lease == 0 {
		return DefaultLease
	}
	return p.Lease
}

// NumberPool returns the account's number pool and the provider whose
// webhooks report calls to it, or nil when it has none. Validate allows one
// pool per account.
func (a *Account) NumberPool() (*NumberPool, string) {
	for i := range a.CallTracking {
		if p := a.CallTracking[i].NumberPool; p != nil {
			return p, a.CallTracking[i].Provider
		}
	}
	return nil, ""
}

// StaticNumber is where a static tracking number is advertised.
type StaticNumber struct {
	Channel  string `yaml:"channel"`
	Source   string `yaml:"source"`
	Medium   string `yaml:"medium"`
	Campaign string `yaml:"campaign"`
}

// CRM is the CRM instance of an account: each branch may run its own.
type CRM struct {
	Provider string `yaml:"provider"` // generic, amocrm, bitrix24, megaplan, dynamics
	// BaseURL is the REST endpoint entities are fetched from (bitrix24: the
	// incoming-webhook URL, e.g. https://branch.bitrix24.ru/rest/1/abc123/).
	BaseURL string `yaml:"base_url"`
	// AppToken is the application_token bitrix24 puts in every outgoing event;
	// for megaplan and dynamics, which sign nothing, the secret their webhook
	// URL must carry as ?code= (Dynamics' WebhookKey) or ?token=.
	AppToken string `yaml:"app_token"`
	// AppTokenFile and AppTokenEnv keep the token out of the file (secrets.go).
	AppTokenFile string `yaml:"app_token_file,omitempty"`
	AppTokenEnv  string `yaml:"app_token_env,omitempty"`
	// Subdomain is the amoCRM account's subdomain (acme for
	// acme.amocrm.ru); its webhooks must name it. Taken from base_url when
	// that is on amoCRM's domain; required for amocrm otherwise.
	Subdomain string `yaml:"subdomain,omitempty"`
	// WonStages and LostStages are the vendor's stage ids that close a deal
	// (amoCRM defaults: 142 won, 143 lost; bitrix24: WON/LOSE semantics).
	WonStages  []string `yaml:"won_stages"`
	LostStages []string `yaml:"lost_stages"`
	// ClientIDField is the custom field that carries Throughline's client id.
	ClientIDField string `yaml:"client_id_field"`
	// CallIDField is the custom field that carries the call-tracking call id.
	CallIDField string `yaml:"call_id_field"`
	// UnitsField is the custom field (amoCRM id, code or name; Bitrix24
	// UF_CRM_*; Megaplan field name; Dynamics column) whose number is the
	// deal's units sold. Set, it wins over line items.
	UnitsField string `yaml:"units_field,omitempty"`
	// UnitsCatalog (amoCRM) is the list (catalog) whose elements linked to a
	// lead are its units sold: a catalog id, or "*" for every list. Set, won
	// leads are pulled with their catalog elements (docs/webhooks/amocrm.md).
	UnitsCatalog string `yaml:"units_catalog,omitempty"`
	// RequestsPerSecond bounds calls to the CRM's REST API (bitrix24 allows 2).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
}

// Load reads and validates a tenants file; *_file references are read
// relative to its directory.
func Load(path string) (*Config, error) {
	c, err := Decode(path)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Decode reads a tenants file and resolves its secret references without
// validating it (for tools that repair a file before it is used).
func Decode(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading tenants file: %w", err)
	}
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parsing tenants file: %w", err)
	}
	if err := c.resolveSecrets(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return &c, nil
}

// Parse decodes and validates tenants YAML; *_file references are read
// relative to the working directory.
func Parse(b []byte) (*Config, error) {
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parsing tenants file: %w", err)
	}
	if err := c.resolveSecrets("."); err != nil {
		return nil, err
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
		if err := validateSchedule(fmt.Sprintf("tenants[%d]", i), "", t.BusinessHours); err != nil {
			return err
		}
		if t.DedupWindow < 0 || t.DedupWindow > MaxDedupWindow {
			return fmt.Errorf("tenants[%d].dedup_window: %s is not between 0 and %s", i, t.DedupWindow, MaxDedupWindow)
		}
		if t.PhoneRegion != "" && !phone.ValidRegion(t.PhoneRegion) {
			return fmt.Errorf("tenants[%d].phone_region: %q is not a region code with a calling code (RU, UA, KZ, BY…)", i, t.PhoneRegion)
		}
		if t.PIISalt != "" && len(t.PIISalt) < minPIISalt {
			return fmt.Errorf("tenants[%d].pii_salt: shorter than %d characters, generate one with `openssl rand -hex 32`", i, minPIISalt)
		}
		if err := validDomains(fmt.Sprintf("tenants[%d].own_domains", i), t.OwnDomains); err != nil {
			return err
		}
		if err := validateCostConnectors(fmt.Sprintf("tenants[%d]", i), t.CostConnectors); err != nil {
			return err
		}
		if t.Margin < 0 || t.Margin > 1 {
			return fmt.Errorf("tenants[%d].margin: %v is not between 0 and 1", i, t.Margin)
		}
		if t.Currency != "" && len(t.Currency) != 3 {
			return fmt.Errorf("tenants[%d].currency: %q is not an ISO 4217 code", i, t.Currency)
		}
		for k, key := range t.TenantKeys {
			if len(key) < 8 {
				return fmt.Errorf("tenants[%d].tenant_keys[%d]: shorter than 8 characters", i, k)
			}
			if prev, ok := keys[key]; ok {
				return fmt.Errorf("tenants[%d].tenant_keys[%d]: already used by %s", i, k, prev)
			}
			keys[key] = t.ID + "/*"
		}
		for k, tok := range t.ReadTokens {
			if len(tok) < 16 {
				return fmt.Errorf("tenants[%d].read_tokens[%d]: shorter than 16 characters", i, k)
			}
			if prev, ok := keys[tok]; ok {
				return fmt.Errorf("tenants[%d].read_tokens[%d]: already used by %s", i, k, prev)
			}
			keys[tok] = t.ID + " (read token)"
		}
		if err := t.checkRetired(i); err != nil {
			return err
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
			if err := validDomains(where+".own_domains", a.OwnDomains); err != nil {
				return err
			}
			if err := a.validateKeys(where, t.ID, keys); err != nil {
				return err
			}
			if err := validateSchedule(where, a.Timezone, a.BusinessHours); err != nil {
				return err
			}
			if a.PhoneRegion != "" && !phone.ValidRegion(a.PhoneRegion) {
				return fmt.Errorf("%s.phone_region: %q is not a region code with a calling code (RU, UA, KZ, BY…)", where, a.PhoneRegion)
			}
			if err := a.validateIntegrations(where); err != nil {
				return err
			}
			if err := validateCostConnectors(where, a.CostConnectors); err != nil {
				return err
			}
		}
	}
	return c.validateClickHouse()
}

func (a *Account) validateIntegrations(where string) error {
	for i, ct := range a.CallTracking {
		switch ct.Provider {
		case "generic", "calltouch", "comagic", "mango", "alloka", "callibri":
		default:
			return fmt.Errorf("%s.call_tracking[%d].provider: %q is not generic, calltouch, comagic, mango, alloka or callibri", where, i, ct.Provider)
		}
		if ct.Provider == "mango" && ct.Secret == "" {
			return fmt.Errorf("%s.call_tracking[%d].secret: mango signs its requests, the API salt is required", where, i)
		}
		for num := range ct.StaticNumbers {
			if err := checkE164(num); err != nil {
				return fmt.Errorf("%s.call_tracking[%d].static_numbers: %q %w", where, i, num, err)
			}
		}
	}
	seen := map[string]bool{}
	for i, ch := range a.Chats {
		switch ch.Provider {
		case "generic", "jivo":
		default:
			return fmt.Errorf("%s.chats[%d].provider: %q is not generic or jivo", where, i, ch.Provider)
		}
		if seen[ch.Provider] {
			return fmt.Errorf("%s.chats[%d].provider: %s is listed twice", where, i, ch.Provider)
		}
		seen[ch.Provider] = true
	}
	return a.validatePool(where)
}

func (a *Account) validatePool(where string) error {
	static := map[string]bool{}
	for _, ct := range a.CallTracking {
		for num := range ct.StaticNumbers {
			static[num] = true
		}
	}
	pools := 0
	for i, ct := range a.CallTracking {
		p := ct.NumberPool
		if p == nil {
			continue
		}
		at := fmt.Sprintf("%s.call_tracking[%d].number_pool", where, i)
		if pools++; pools > 1 {
			return fmt.Errorf("%s: an account has one number pool, another call_tracking entry already has one", at)
		}
		if len(p.Numbers) == 0 {
			return fmt.Errorf("%s.numbers: empty, list the pool's E.164 numbers", at)
		}
		if len(p.Numbers) > maxPoolSize {
			return fmt.Errorf("%s.numbers: %d numbers, at most %d", at, len(p.Numbers), maxPoolSize)
		}
		seen := map[string]bool{}
		for k, num := range p.Numbers {
			switch {
			case checkE164(num) != nil:
				return fmt.Errorf("%s.numbers[%d]: %q %w", at, k, num, checkE164(num))
			case seen[num]:
				return fmt.Errorf("%s.numbers[%d]: %q listed twice", at, k, num)
			case static[num]:
				return fmt.Errorf("%s.numbers[%d]: %q is also a static number; a number is either static or in the pool", at, k, num)
			}
			seen[num] = true
		}
		if len(p.Replace) == 0 {
			return fmt.Errorf("%s.replace: empty, give the site's default phone as its pages show it (e.g. \"+7 (495) 000-00-00\")", at)
		}
		for k, r := range p.Replace {
			if n := countDigits(r); n < 5 || len(r) > 64 {
				return fmt.Errorf("%s.replace[%d]: %q is not a phone as a page shows it (5 or more digits, at most 64 characters)", at, k, r)
			}
		}
		if p.Lease != 0 && (p.Lease < minLease || p.Lease > maxLease) {
			return fmt.Errorf("%s.lease: %s, must be between %s and %s", at, p.Lease, minLease, maxLease)
		}
	}
	if c := a.CRM; c != nil {
		if c.UnitsCatalog != "" && c.Provider != "amocrm" {
			return fmt.Errorf("%s.crm.units_catalog: only amocrm has catalogs (bitrix24 reads product rows, megaplan positions)", where)
		}
		switch c.Provider {
		case "generic", "megaplan", "dynamics":
		case "amocrm":
			if c.UnitsCatalog != "" && c.UnitsCatalog != "*" && countDigits(c.UnitsCatalog) != len(c.UnitsCatalog) {
				return fmt.Errorf("%s.crm.units_catalog: %q is not an amoCRM catalog id (digits) or \"*\"", where, c.UnitsCatalog)
			}
			if c.AmoSubdomain() == "" {
				return fmt.Errorf("%s.crm.subdomain: amocrm webhooks are checked against the account's subdomain (acme for acme.amocrm.ru); set subdomain, or a base_url on amoCRM's domain", where)
			}
		case "bitrix24":
			if c.BaseURL == "" || c.AppToken == "" {
				return fmt.Errorf("%s.crm: bitrix24 needs base_url (REST webhook) and app_token", where)
			}
		default:
			return fmt.Errorf("%s.crm.provider: %q is not generic, amocrm, bitrix24, megaplan or dynamics", where, c.Provider)
		}
	}
	return nil
}

// checkE164 says why num is not a valid number written as E.164, the form
// webhooks' tracking numbers are normalised to (and so matched against).
func checkE164(num string) error {
	n, err := phone.Parse(num, phone.DefaultRegion)
	switch {
	case err != nil:
		return fmt.Errorf("is not a phone number: %w", err)
	case n.E164 != num:
		return fmt.Errorf("is not written as E.164, write %q", n.E164)
	}
	return nil
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
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

// Principal is who a key authenticates as. A tenant key has no Account.
type Principal struct {
	Tenant  string
	Account string
	// Server is set for a server key (or a legacy write key, or a tenant
	// key): one that may write calls, CRM deals, chats and costs.
	Server bool
}

// Keys resolves write keys. Keys are compared by their SHA-256 digest so the
// table never holds the keys themselves in a form that logging could leak.
type Keys struct {
	byDigest map[[32]byte]Principal // account write keys
	tenant   map[[32]byte]string    // tenant keys → tenant id
	readers  map[[32]byte]string    // read tokens → tenant id
}

// NewKeys indexes the write keys of a config.
func NewKeys(c *Config) *Keys {
	k := &Keys{byDigest: map[[32]byte]Principal{}, tenant: map[[32]byte]string{}, readers: map[[32]byte]string{}}
	for _, t := range c.Tenants {
		for _, key := range t.TenantKeys {
			k.tenant[sha256.Sum256([]byte(key))] = t.ID
		}
		for _, tok := range t.ReadTokens {
			k.readers[sha256.Sum256([]byte(tok))] = t.ID
		}
		for _, a := range t.Accounts {
			for _, key := range a.SiteKeys {
				k.byDigest[sha256.Sum256([]byte(key))] = Principal{Tenant: t.ID, Account: a.ID}
			}
			for _, key := range append(a.ServerKeys, a.WriteKeys...) {
				k.byDigest[sha256.Sum256([]byte(key))] = Principal{Tenant: t.ID, Account: a.ID, Server: true}
			}
		}
	}
	return k
}

// LookupTenant returns the tenant a tenant-level key belongs to. Account
// write keys are not tenant keys, and tenant keys are not write keys.
func (k *Keys) LookupTenant(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	t, ok := k.tenant[sha256.Sum256([]byte(key))]
	return t, ok
}

// LookupReader returns the tenant whose reports a read token may read. Write
// keys and tenant keys are not read tokens.
func (k *Keys) LookupReader(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	t, ok := k.readers[sha256.Sum256([]byte(token))]
	return t, ok
}

// Lookup returns the account a site, server or legacy write key belongs
// to; Principal.Server tells a key that may write calls, CRM and costs.
func (k *Keys) Lookup(key string) (Principal, bool) {
	if key == "" {
		return Principal{}, false
	}
	// The lookup is on a digest, so its timing says nothing useful about the key.
	p, ok := k.byDigest[sha256.Sum256([]byte(key))]
	return p, ok
}

// Find returns the tenant and account of a principal's ids.
func (c *Config) Find(tenant, account string) (*Tenant, *Account) {
	for i := range c.Tenants {
		t := &c.Tenants[i]
		if t.ID != tenant {
			continue
		}
		for j := range t.Accounts {
			if t.Accounts[j].ID == account {
				return t, &t.Accounts[j]
			}
		}
		return t, nil
	}
	return nil, nil
}

// validDomains accepts host names only ("shop.example.ru"): a URL or a path
// would never match a referrer's host, silently.
func validDomains(where string, ds []string) error {
	for k, d := range ds {
		if d == "" || strings.ContainsAny(d, "/:?#@ ") || strings.HasPrefix(d, ".") {
			return fmt.Errorf("%s[%d]: %q is not a host name (write shop.example.ru, no scheme or path)", where, k, d)
		}
	}
	return nil
}
