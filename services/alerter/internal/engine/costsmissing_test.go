package engine_test

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/alerter/internal/engine"
	"github.com/throughline/throughline/services/alerter/internal/incident"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// costsTenants: Moscow pulls Yandex Direct, Vladivostok (UTC+10) pulls
// Yandex Direct and Meta, the network pulls Google Ads centrally.
const costsTenants = `
tenants:
  - id: acme
    timezone: Europe/Moscow
    cost_connectors:
      - {provider: google_ads, token_env: G, developer_token_env: D, client_secret_env: S, client_id: c, customer_id: "1234567890"}
    accounts:
      - id: msk
        name: Moscow
        cost_connectors:
          - {provider: yandex_direct, token_env: Y}
      - id: vvo
        timezone: Asia/Vladivostok
        cost_connectors:
          - {provider: yandex_direct, token_env: Y}
          - {provider: meta, name: fb, token_env: M, ad_account_id: act_1}
`

func costsHarness(t *testing.T, rulesYAML string) *harness {
	t.Helper()
	ten, err := tenants.Parse([]byte(costsTenants))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := rules.Load(fstest.MapFS{"acme.yaml": {Data: []byte(rulesYAML)}}, ten, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, e: engine.New(cat, ten), m: incident.NewManager(24*time.Hour, nil), watch: map[string]bool{"costs-missing": true}}
}

// pulled is a pull's import as the collector writes it: one row per day of
// the window (zero for a day without spend), then the commit.
func (h *harness) pulled(account, channel string, at time.Time, days ...string) {
	h.seq++
	imp := "pull-" + time.Duration(h.seq).String()
	for i, d := range days {
		h.e.Envelope(&event.Envelope{V: 1, ID: imp + "-" + d, Tenant: "acme", Account: account, Type: event.TypeCost, Source: "costs:yandex",
			TS: at.UnixMilli(), ReceivedAt: at.UnixMilli(),
			Cost: &event.Cost{Date: d, Channel: channel, Amount: int64(i) * 100, Currency: "RUB", ImportID: imp, Central: account == "*"}})
	}
	h.e.Envelope(&event.Envelope{V: 1, ID: imp + "-commit", Tenant: "acme", Account: account, Type: event.TypeCost, Source: "costs:yandex",
		TS: at.UnixMilli(), ReceivedAt: at.UnixMilli(),
		Cost: &event.Cost{Currency: "RUB", ImportID: imp, Commit: true, ImportRows: len(days), Central: account == "*"}})
}

// TestCostsMissing: at 10:00 in each connector's zone, a connector whose
// import of yesterday has not been committed breaches; a zero-spend day
// counts as arrived; an import of yesterday resolves it; an import still
// without its commit does not.
func TestCostsMissing(t *testing.T) {
	h := costsHarness(t, "")
	// Tuesday 3 March, 09:00 Moscow = 16:00 Vladivostok. Monday's spend:
	// Moscow's and the central Google Ads' arrived at 01:00 Moscow time,
	// Vladivostok's Direct at 01:00 its time; its Meta pull never came.
	tue := monday.AddDate(0, 0, 1)
	h.now = tue
	h.pulled("msk", "yandex_direct", tue.Add(time.Hour), "2026-02-28", "2026-03-01", "2026-03-02")
	h.pulled("*", "google_ads", tue.Add(time.Hour), "2026-03-01", "2026-03-02")
	h.pulled("vvo", "yandex_direct", tue.Add(-6*time.Hour), "2026-03-01", "2026-03-02")
	// Vladivostok passed 10:00 at 03:00 Moscow time.
	expect(t, "Vladivostok's 10:00", h.to(tue.Add(3*time.Hour)), "firing vvo/costs-missing/fb")
	a := active(h, "vvo", "costs-missing", "fb")
	if a.Labels["channel"] != "facebook_ads" || a.Labels["day"] != "2026-03-02" || a.Title != "spend of 2026-03-02 from facebook_ads did not arrive" {
		t.Fatalf("alert %+v", a)
	}
	expect(t, "Moscow's 10:00, all arrived", h.to(tue.Add(10*time.Hour)))
	// Wednesday: nothing was pulled after midnight anywhere.
	wed := tue.AddDate(0, 0, 1)
	h.to(wed.Add(9 * time.Hour))
	// An import of Tuesday without its commit (cut short) does not count.
	h.e.Envelope(&event.Envelope{V: 1, ID: "cut-row", Tenant: "acme", Account: "msk", Type: event.TypeCost, Source: "costs:yandex",
		TS: wed.UnixMilli(), ReceivedAt: wed.UnixMilli(), Cost: &event.Cost{Date: "2026-03-03", Channel: "yandex_direct", Amount: 5, Currency: "RUB", ImportID: "cut"}})
	expect(t, "Moscow's 10:00 on Wednesday", h.to(wed.Add(10*time.Hour)),
		"firing /costs-missing/google_ads", "firing msk/costs-missing/yandex_direct")
	// Moscow's pull comes through late: resolved; the others stay.
	h.now = wed.Add(11 * time.Hour)
	h.pulled("msk", "yandex_direct", h.now, "2026-03-03")
	expect(t, "Moscow's late pull", h.changed(), "resolved msk/costs-missing/yandex_direct")
	if active(h, "", "costs-missing", "google_ads") == nil || active(h, "vvo", "costs-missing", "yandex_direct") == nil {
		t.Fatalf("still missing: %+v", h.m.Active("acme"))
	}
}

// TestCostsMissingSettings: `by` and channels per rule; a branch override.
func TestCostsMissingSettings(t *testing.T) {
	h := costsHarness(t, "rules:\n  - {name: costs-missing, by: 12h, channels: [yandex_direct], accounts: {msk: {enabled: false}}}\n")
	wed := monday.AddDate(0, 0, 2)
	h.now = wed
	expect(t, "11:00 Moscow, 18:00 Vladivostok", h.to(wed.Add(11*time.Hour)), "firing vvo/costs-missing/yandex_direct")
	expect(t, "noon in Moscow: Moscow is off, Google is not watched", h.to(wed.Add(12*time.Hour)))
	if _, err := rules.Load(fstest.MapFS{"acme.yaml": {Data: []byte("rules:\n  - {name: costs-missing, by: 25h}\n")}}, nil,
		func(string) (string, bool) { return "", false }); err == nil {
		t.Fatal("by: 25h accepted")
	}
}
