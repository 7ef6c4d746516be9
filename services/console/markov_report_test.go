package console

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

const (
	mkToken    = "mk-read-token-0001"
	otherMkTok = "other-mk-read-token-0001"
)

// markovWorld is testnet.MarkovNetwork behind a console that requires tokens.
func markovWorld(t *testing.T) *httptest.Server {
	t.Helper()
	cfg, err := tenants.Parse([]byte(`
tenants:
  - id: mk
    timezone: Europe/Moscow
    read_tokens: [` + mkToken + `]
    accounts:
      - id: msk
      - id: spb
  - id: other
    read_tokens: [` + otherMkTok + `]
    accounts:
      - id: msk
`))
	if err != nil {
		t.Fatal(err)
	}
	w := testnet.New(t, engine)
	testnet.MarkovNetwork(t, w)
	c, err := New(Config{SQLToken: sqlToken}, Deps{Store: engine, Tenants: cfg, Database: w.DB})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// The journeys are on 2026-04-01 UTC, 03:00 Moscow onwards: the Moscow
// days 04-01 and 04-02 hold them all.
var markovPeriod = url.Values{"from": {"2026-04-01"}, "to": {"2026-04-03"}}

func TestMarkovReportJSONAndCSV(t *testing.T) {
	srv := markovWorld(t)
	status, hdr, body := get(t, srv, "/v1/reports/markov", markovPeriod, mkToken)
	if status != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s: %s", status, hdr.Get("Content-Type"), body)
	}
	var a MarkovAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Tenant != "mk" || a.From != "2026-04-01T00:00:00+03:00" || a.To != "2026-04-03T00:00:00+03:00" ||
		math.Abs(a.ConversionProbability-1.0/3) > 1e-9 || a.Paths != 3 || a.ConvertingPaths != 1 || a.UntouchedLeads != 1 ||
		a.Conversions != 1 || a.RevenueMinor != 90_000_00 || len(a.Rows) != 3 {
		t.Fatalf("answer %s", body)
	}
	// By hand (analytics.TestMarkovTextbook): shares 0.4, 0.4, 0.2.
	want := []MarkovRow{{"telegram", 1, 0.4, 0.4, 36_000_00}, {"vk_ads", 1, 0.4, 0.4, 36_000_00}, {"yandex_direct", 0.5, 0.2, 0.2, 18_000_00}}
	for i, r := range a.Rows {
		if r != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, r, want[i])
		}
	}

	params := url.Values{"from": {"2026-04-01"}, "to": {"2026-04-03"}, "account": {"msk"}, "format": {"csv"}}
	status, hdr, body = get(t, srv, "/v1/reports/markov", params, mkToken)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s %s", status, hdr.Get("Content-Type"), body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// msk alone: one chain yandex → vk → telegram, a third each.
	if len(recs) != 4 || strings.Join(recs[0], ",") != "channel,removal_effect,share,conversions,revenue_minor" ||
		strings.Join(recs[1], ",") != "telegram,1,0.333333,0.3333,3000000" {
		t.Fatalf("msk csv: %q", body)
	}
}

func TestMarkovReportIsolationAndParameters(t *testing.T) {
	srv := markovWorld(t)
	with := func(kv ...string) url.Values {
		v := url.Values{"from": {"2026-04-01"}, "to": {"2026-04-03"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, c := range []struct {
		name   string
		params url.Values
		token  string
		status int
		msg    string
	}{
		{"no token", with(), "", 401, "read token"},
		{"another tenant by parameter", with("tenant", "other"), mkToken, 403, "reads tenant mk only"},
		{"the other way round", with("tenant", "mk"), otherMkTok, 403, "reads tenant other only"},
		{"another tenant's account", with("account", "spb"), otherMkTok, 404, "not an account of tenant other"},
		{"a quote in the account", with("account", "msk' OR '1'='1"), mkToken, 404, "not an account"},
		{"a bad from", with("from", "yesterday"), mkToken, 400, `from: \"yesterday\" is not an RFC 3339 time or a date`},
		{"to before from", with("from", "2026-04-03", "to", "2026-04-01"), mkToken, 400, "to must be after from"},
		{"a year", with("from", "2025-04-01"), mkToken, 400, "at most 93 days"},
		{"a bad format", with("format", "xml"), mkToken, 400, `format: \"xml\" is not json or csv`},
	} {
		status, _, body := get(t, srv, "/v1/reports/markov", c.params, c.token)
		if status != c.status || !strings.Contains(string(body), c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.name, status, body, c.status, c.msg)
		}
		if strings.Contains(string(body), "yandex") || strings.Contains(string(body), "google") {
			t.Errorf("%s: rows leaked: %s", c.name, body)
		}
	}
	// other's token sees other's journeys only, whatever mk has.
	status, _, body := get(t, srv, "/v1/reports/markov", with(), otherMkTok)
	var a MarkovAnswer
	if status != 200 || json.Unmarshal(body, &a) != nil || a.Tenant != "other" || len(a.Rows) != 2 ||
		a.Rows[0] != (MarkovRow{"google_ads", 1, 1, 1, 5_000_00}) || a.Rows[1].Channel != "telegram" || a.Rows[1].Share != 0 {
		t.Fatalf("other: %d %s", status, body)
	}
	// The SQL token reads a tenant it names.
	status, _, body = get(t, srv, "/v1/reports/markov", with("tenant", "mk"), sqlToken)
	if status != 200 || !strings.Contains(string(body), `"tenant":"mk"`) {
		t.Fatalf("admin: %d %s", status, body)
	}
	if status, _, _ := get(t, srv, "/v1/reports/markov", with(), sqlToken); status != http.StatusBadRequest {
		t.Fatalf("admin without a tenant: %d, want 400", status)
	}
}
