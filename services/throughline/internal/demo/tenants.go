// Package demo simulates a franchise network for the all-in-one binary: it
// writes a demo tenants file and drives the network through the collector's
// public HTTP endpoints only, as the real systems would: visitors of the
// branch sites (GET /px.gif, POST /v1/events; visits.go), their calls through
// the branches' call-tracking vendors (calls.go), the leads and deals of the
// branches' CRMs (crm.go, with a simulated Bitrix24/amoCRM REST API the
// collector pulls from, crmserver.go), the newer vendors some branches run
// (Alloka, Callibri, Jivo, Megaplan, Dynamics 365; vendors.go) and the
// daily ad spend (costs.go). story.go holds the economics that make the
// numbers worth a report. By default a month of history goes first, with
// its progress (progress.go), and the demo goes live once the pipeline has
// taken it (settle.go).
package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/throughline/throughline/pkg/tenants"
)

// TenantID is the demo network's tenant id.
const TenantID = "demo-network"

// DefaultBranches is how many branches the demo network has by default.
const DefaultBranches = 20

// city is a branch location: an account id, its display name and, where it
// differs from the tenant's Moscow time, its time zone.
type city struct{ id, name, tz string }

// cities are ordered by size: traffic shares follow the order.
var cities = []city{
	{"moscow", "Москва", ""},
	{"saint-petersburg", "Санкт-Петербург", ""},
	{"novosibirsk", "Новосибирск", "Asia/Novosibirsk"},
	{"yekaterinburg", "Екатеринбург", "Asia/Yekaterinburg"},
	{"kazan", "Казань", ""},
	{"nizhny-novgorod", "Нижний Новгород", ""},
	{"chelyabinsk", "Челябинск", "Asia/Yekaterinburg"},
	{"krasnoyarsk", "Красноярск", "Asia/Krasnoyarsk"},
	{"samara", "Самара", "Europe/Samara"},
	{"ufa", "Уфа", "Asia/Yekaterinburg"},
	{"rostov-on-don", "Ростов-на-Дону", ""},
	{"omsk", "Омск", "Asia/Omsk"},
	{"krasnodar", "Краснодар", ""},
	{"voronezh", "Воронеж", ""},
	{"perm", "Пермь", "Asia/Yekaterinburg"},
	{"volgograd", "Волгоград", "Europe/Volgograd"},
	{"saratov", "Саратов", "Europe/Saratov"},
	{"tyumen", "Тюмень", "Asia/Yekaterinburg"},
	{"tolyatti", "Тольятти", "Europe/Samara"},
	{"izhevsk", "Ижевск", "Europe/Samara"},
	{"barnaul", "Барнаул", "Asia/Barnaul"},
	{"ulyanovsk", "Ульяновск", "Europe/Ulyanovsk"},
	{"irkutsk", "Иркутск", "Asia/Irkutsk"},
	{"khabarovsk", "Хабаровск", "Asia/Vladivostok"},
	{"yaroslavl", "Ярославль", ""},
	{"vladivostok", "Владивосток", "Asia/Vladivostok"},
	{"makhachkala", "Махачкала", ""},
	{"tomsk", "Томск", "Asia/Tomsk"},
	{"orenburg", "Оренбург", "Asia/Yekaterinburg"},
	{"kemerovo", "Кемерово", "Asia/Novokuznetsk"},
}

// Tenants generates the demo tenants configuration with its simulated CRMs
// at DefaultCRMURL; see TenantsFor.
func Tenants(seed int64, branches int) *tenants.Config {
	return TenantsFor(seed, branches, DefaultCRMURL)
}

// TenantsFor generates the demo tenants configuration: one network,
// "demo-network" (Europe/Moscow, RUB, margin 40% for ROMI, a tenant key for
// central cost uploads, a read token for the dashboard), with branches
// accounts named after Russian cities (the largest first; past the list,
// cities repeat with a number), each with a site key, a server key and its
// integrations (see integrate). Every secret is random (secrets.go): the
// file written is what keeps them. The Bitrix24 portals and amoCRM accounts
// are simulated by the demo's CRM server at crmURL. branches < 1 means
// DefaultBranches. seed is no longer used: the network's shape is fixed.
func TenantsFor(seed int64, branches int, crmURL string) *tenants.Config {
	if branches < 1 {
		branches = DefaultBranches
	}
	t := tenants.Tenant{ID: TenantID, Name: "Демо-сеть", Timezone: "Europe/Moscow", Currency: "RUB", Margin: 0.4,
		TenantKeys:      []string{newSecret(prefixTenantKey, 24)},
		ReadTokens:      []string{newSecret(prefixReadToken, 24)},
		ClickHouseUsers: []tenants.ClickHouseUser{{User: "demo_network", Password: newSecret("demo_ch_", 24)}}}
	for i := range branches {
		c := cities[i%len(cities)]
		id, name := c.id, c.name
		if n := i / len(cities); n > 0 {
			id += "-" + strconv.Itoa(n+1)
			name += " " + strconv.Itoa(n+1)
		}
		a := tenants.Account{ID: id, Name: name, Timezone: c.tz,
			SiteKeys: []string{newSecret(prefixSiteKey, 12)}, ServerKeys: []string{newSecret(prefixServerKey, 24)}}
		integrate(&a, i, crmURL)
		t.Accounts = append(t.Accounts, a)
	}
	admin := &tenants.ClickHouseUser{User: "admin", Password: newSecret("demo_ch_", 24)}
	return &tenants.Config{Tenants: []tenants.Tenant{t}, ClickHouse: tenants.ClickHouse{Admin: admin}}
}

// WriteTenantsFile validates cfg and writes it as YAML to path, atomically
// and readable only by the owner (it holds write keys). A tenant without a
// pii_salt gets a random one first (in cfg too): the salt that hashes
// phones and e-mails is generated, never derived like the demo's keys.
func WriteTenantsFile(path string, cfg *tenants.Config) error {
	for i := range cfg.Tenants {
		if cfg.Tenants[i].PIISalt == "" {
			cfg.Tenants[i].PIISalt = newSecret("", 32)
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("writing tenants file: %w", err)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding tenants file: %w", err)
	}
	b = append([]byte("# Tenants → accounts → keys. Generated for the demo with random secrets; edit freely.\n"+
		"# site_keys are public (pixel, tracker); server_keys, tenant_keys and read_tokens are secret.\n"), b...)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating tenants file dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tenants-*.yaml")
	if err != nil {
		return fmt.Errorf("writing tenants file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing tenants file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing tenants file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing tenants file: %w", err)
	}
	return nil
}
