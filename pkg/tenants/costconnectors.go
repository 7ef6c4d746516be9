package tenants

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Cost connector providers: the ad platforms whose spend the collector pulls
// daily (docs/costs.md).
const (
	CostYandexDirect = "yandex_direct"
	CostVKAds        = "vk_ads"
	CostGoogleAds    = "google_ads"
	CostMeta         = "meta"
)

// CostProviders lists every provider a cost connector may name.
var CostProviders = []string{CostYandexDirect, CostVKAds, CostGoogleAds, CostMeta}

// DefaultRestateDays is how many days back a cost pull restates unless the
// connector sets restate_days: platforms revise spend for days (invalid
// clicks, late conversions of auto-strategies).
const DefaultRestateDays = 7

// maxRestateDays keeps one pull within what one cost import may restate.
const maxRestateDays = 90

// CostConnector is one ad account whose spend is pulled every day. On an
// account it pulls that branch's spend; on a tenant (cost_connectors at the
// tenant level) it pulls central spend, allocated to branches later.
//
// Secrets are never written in the tenants file: each is a reference, an
// environment variable (…_env) or a file (…_file, read on every pull so a
// rotated token is picked up), exactly one of the two.
type CostConnector struct {
	Provider string `yaml:"provider"` // one of CostProviders
	// Name tells two connectors of one provider on one account apart
	// (default: the provider). It is the connector's id in metrics, logs
	// and the costs_missing alert.
	Name string `yaml:"name"`
	// Channel of the pulled rows; default the provider's (yandex_direct,
	// vk_ads, google_ads; meta's facebook_ads).
	Channel string `yaml:"channel"`
	// Timezone decides when "yesterday" is over; default the account's,
	// then the tenant's. Set it to the ad account's zone when that differs.
	Timezone string `yaml:"timezone"`
	// RestateDays is the window pulled every day: yesterday and the days
	// before it, DefaultRestateDays unless set (1 = yesterday only).
	RestateDays int `yaml:"restate_days"`
	// BaseURL replaces the platform's API endpoint (a sandbox, a proxy, a
	// test server). Google Ads: the versioned root, e.g.
	// https://googleads.googleapis.com/v21.
	BaseURL string `yaml:"base_url"`

	// TokenEnv/TokenFile: the OAuth access token (Yandex Direct, VK Ads,
	// Meta) or, for Google Ads, the OAuth refresh token.
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`

	// ClientLogin is the advertiser's login when an agency token pulls it
	// (Yandex Direct's Client-Login header).
	ClientLogin string `yaml:"client_login"`
	// IncludeVAT asks Yandex Direct for spend with VAT (default true: what
	// the branch pays).
	IncludeVAT *bool `yaml:"include_vat"`

	// Google Ads: the customer pulled (digits, dashes allowed), the manager
	// account it is reached through (login-customer-id), the developer
	// token and the OAuth client that issued the refresh token.
	CustomerID         string `yaml:"customer_id"`
	LoginCustomerID    string `yaml:"login_customer_id"`
	DeveloperTokenEnv  string `yaml:"developer_token_env"`
	DeveloperTokenFile string `yaml:"developer_token_file"`
	ClientID           string `yaml:"client_id"`
	ClientSecretEnv    string `yaml:"client_secret_env"`
	ClientSecretFile   string `yaml:"client_secret_file"`
	// TokenURL replaces Google's OAuth token endpoint (tests).
	TokenURL string `yaml:"token_url"`

	// AdAccountID is Meta's ad account (act_<digits> or the digits).
	AdAccountID string `yaml:"ad_account_id"`
}

// ID is the connector's name, unique on its account.
func (c *CostConnector) ID() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Provider
}

// ChannelOrDefault is the channel of the connector's rows: Channel, else
// the provider's (meta's is facebook_ads, the stitcher's name for it).
func (c *CostConnector) ChannelOrDefault() string {
	if c.Channel != "" {
		return c.Channel
	}
	if c.Provider == CostMeta {
		return "facebook_ads"
	}
	return c.Provider
}

// Location is the zone whose midnight ends the connector's day: its own,
// else the account's (accountTZ), else the tenant's, else UTC.
func (c *CostConnector) Location(accountTZ, tenantTZ string) (*time.Location, error) {
	for _, tz := range []string{c.Timezone, accountTZ, tenantTZ} {
		if tz != "" {
			return time.LoadLocation(tz)
		}
	}
	return time.UTC, nil
}

// Restate is the connector's restatement window in days.
func (c *CostConnector) Restate() int {
	if c.RestateDays == 0 {
		return DefaultRestateDays
	}
	return c.RestateDays
}

// VAT reports whether Yandex Direct spend is pulled with VAT.
func (c *CostConnector) VAT() bool { return c.IncludeVAT == nil || *c.IncludeVAT }

// Token reads the connector's token from its reference.
func (c *CostConnector) Token() (string, error) {
	return ReadSecret("token", c.TokenEnv, c.TokenFile)
}

// DeveloperToken reads Google Ads' developer token.
func (c *CostConnector) DeveloperToken() (string, error) {
	return ReadSecret("developer_token", c.DeveloperTokenEnv, c.DeveloperTokenFile)
}

// ClientSecret reads the Google OAuth client's secret.
func (c *CostConnector) ClientSecret() (string, error) {
	return ReadSecret("client_secret", c.ClientSecretEnv, c.ClientSecretFile)
}

// ReadSecret resolves a secret reference: the environment variable env or
// the file path (trailing whitespace trimmed). Errors name the setting and
// the variable or file, never the value.
func ReadSecret(setting, env, file string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("%s_env: environment variable %s is not set", setting, env)
		}
		return strings.TrimSpace(v), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", setting, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s_file: %s is empty", setting, file)
		}
		return v, nil
	}
	return "", fmt.Errorf("%s_env or %s_file: required", setting, setting)
}

// validateCostConnectors checks the connectors of a tenant (account "") or
// an account: known provider, the settings it needs, one reference per
// secret, unique names. Secrets themselves are read only when pulling.
func validateCostConnectors(where string, cs []CostConnector) error {
	names := map[string]bool{}
	for i := range cs {
		c := &cs[i]
		at := fmt.Sprintf("%s.cost_connectors[%d]", where, i)
		known := false
		for _, p := range CostProviders {
			known = known || p == c.Provider
		}
		if !known {
			return fmt.Errorf("%s.provider: %q is not one of %s", at, c.Provider, strings.Join(CostProviders, ", "))
		}
		if !validID(c.ID()) {
			return fmt.Errorf("%s.name: %q must be 1-64 of a-z, 0-9, _ and -", at, c.ID())
		}
		if names[c.ID()] {
			return fmt.Errorf("%s.name: %q already names another connector here; give each a name", at, c.ID())
		}
		names[c.ID()] = true
		if c.RestateDays < 0 || c.RestateDays > maxRestateDays {
			return fmt.Errorf("%s.restate_days: %d, must be 1..%d", at, c.RestateDays, maxRestateDays)
		}
		if c.Timezone != "" {
			if _, err := time.LoadLocation(c.Timezone); err != nil {
				return fmt.Errorf("%s.timezone: %w", at, err)
			}
		}
		for _, u := range []struct{ name, v string }{{"base_url", c.BaseURL}, {"token_url", c.TokenURL}} {
			if u.v == "" {
				continue
			}
			p, err := url.Parse(u.v)
			if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				return fmt.Errorf("%s.%s: %q is not an http(s) URL", at, u.name, u.v)
			}
		}
		if err := oneRef(at, "token", c.TokenEnv, c.TokenFile, true); err != nil {
			return err
		}
		switch c.Provider {
		case CostGoogleAds:
			if countDigits(c.CustomerID) != 10 || len(strings.ReplaceAll(c.CustomerID, "-", "")) != 10 {
				return fmt.Errorf("%s.customer_id: %q is not a 10-digit Google Ads customer id", at, c.CustomerID)
			}
			if c.LoginCustomerID != "" && (countDigits(c.LoginCustomerID) != 10 || len(strings.ReplaceAll(c.LoginCustomerID, "-", "")) != 10) {
				return fmt.Errorf("%s.login_customer_id: %q is not a 10-digit Google Ads customer id", at, c.LoginCustomerID)
			}
			if c.ClientID == "" {
				return fmt.Errorf("%s.client_id: required (the OAuth client that issued the refresh token)", at)
			}
			if err := oneRef(at, "developer_token", c.DeveloperTokenEnv, c.DeveloperTokenFile, true); err != nil {
				return err
			}
			if err := oneRef(at, "client_secret", c.ClientSecretEnv, c.ClientSecretFile, true); err != nil {
				return err
			}
		case CostMeta:
			id := strings.TrimPrefix(c.AdAccountID, "act_")
			if id == "" || countDigits(id) != len(id) {
				return fmt.Errorf("%s.ad_account_id: %q is not act_<digits>", at, c.AdAccountID)
			}
		}
	}
	return nil
}

// oneRef checks that a secret is referenced exactly once.
func oneRef(at, setting, env, file string, required bool) error {
	switch {
	case env != "" && file != "":
		return fmt.Errorf("%s.%s_env, %s_file: give one of them", at, setting, setting)
	case required && env == "" && file == "":
		return fmt.Errorf("%s.%s_env or %s_file: required (secrets are referenced, never written here)", at, setting, setting)
	}
	return nil
}
