package collector

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/pkg/vendorsign"
)

const (
	siteKeyKK   = "kk-site-key-01"
	serverKeyKK = "kk-server-key-0123456789"
)

const keyKindsYAML = `
tenants:
  - id: kk
    accounts:
      - id: branch
        site_keys: [` + siteKeyKK + `]
        server_keys: [` + serverKeyKK + `]
        call_tracking: [{provider: generic}, {provider: mango, secret: kk-salt}]
        crm: {provider: amocrm, subdomain: kk-branch}
`

func newKeyKindsServer(t *testing.T, k *testKafka, cfg Config) *testServer {
	t.Helper()
	tc, err := tenants.Parse([]byte(keyKindsYAML))
	if err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.New(zerolog.Nop(), "collector-test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, Deps{Tel: tel, Producer: k.producer(t, 1000), Keys: tenants.NewKeys(tc), Tenants: tc})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, c)
}

// The site key is in every page: with it, nobody may write calls, CRM
// deals or costs. The server key may, and the site key keeps its own routes.
func TestSiteKeyCannotForgeRevenue(t *testing.T) {
	k := startKafka(t)
	cfg := testConfig()
	cfg.ReplayWindow = time.Hour
	s := newKeyKindsServer(t, k, cfg)
	now := time.Now()
	call := fmt.Sprintf(`{"call_id":"c1","caller":"+79161234567","started_at":%d,"talk_sec":60}`, now.UnixMilli())
	deal := `{"changes":[{"entity":"deal","id":"d1","status":"won","amount":133000000}]}`
	costs := "date,channel,campaign,cost\n" + now.Format(time.DateOnly) + ",yandex_direct,x,999999\n"
	amo := func(sub string) []byte {
		v := url.Values{"leads[add][0][id]": {"1"}, "leads[add][0][status_id]": {"142"}}
		if sub != "" {
			v.Set("account[subdomain]", sub)
		}
		return []byte(v.Encode())
	}
	mango := func(at time.Time) []byte {
		j := fmt.Sprintf(`{"entry_id":"e%d","call_direction":1,"from":{"number":"79161234567"},"line_number":"74951234567","create_time":%d,"end_time":%d,"entry_result":1}`,
			at.Unix(), at.Unix(), at.Unix()+30)
		return []byte(url.Values{"vpbx_api_key": {"k"}, "sign": {vendorsign.Mango("k", j, "kk-salt")}, "json": {j}}.Encode())
	}
	cases := []struct {
		name, path, ctype string
		body              []byte
		hdr               map[string]string
		want              int
	}{
		{"site key: call", "/v1/hooks/calls/generic?k=" + siteKeyKK, "application/json", []byte(call), nil, 403},
		{"site key: crm", "/v1/hooks/crm/generic?k=" + siteKeyKK, "application/json", []byte(deal), nil, 403},
		{"site key: costs", "/v1/costs", "text/csv", []byte(costs), map[string]string{"Authorization": "Bearer " + siteKeyKK}, 403},
		{"site key: events (its own route)", "/v1/events", "application/json",
			[]byte(fmt.Sprintf(`[{"type":"pageview","ts":%d,"client_id":"v","url":"https://e.x/"}]`, now.UnixMilli())), map[string]string{"X-Write-Key": siteKeyKK}, 202},
		{"amoCRM without subdomain", "/v1/hooks/crm/amocrm?k=" + serverKeyKK, form, amo(""), nil, 403},
		{"mango replayed two hours later", "/v1/hooks/calls/mango?k=" + serverKeyKK, form, mango(now.Add(-2 * time.Hour)), nil, 403},
		{"server key: call", "/v1/hooks/calls/generic?k=" + serverKeyKK, "application/json", []byte(call), nil, 200},
		{"server key: mango within the window", "/v1/hooks/calls/mango?k=" + serverKeyKK, form, mango(now.Add(-time.Minute)), nil, 200},
	}
	for _, c := range cases {
		r := s.send(t, "POST", c.path, c.ctype, c.body, c.hdr)
		if r.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.want)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.name, cc)
		}
		if c.want == 403 && strings.HasPrefix(c.name, "site key") && !strings.Contains(r.body, "server key") {
			t.Errorf("%s: the answer does not say a server key is needed: %s", c.name, r.body)
		}
	}
	// Kafka has the event and the two calls, nothing else on the raw topic.
	if n := k.endOffset(t, kafka.TopicRaw); n != 3 {
		t.Errorf("%d raw records, want 3", n)
	}
}

// Without configured proxies, nobody's X-Forwarded-For is believed: a
// client cannot choose its own IP.
func TestForwardedForIgnoredByDefault(t *testing.T) {
	k := startKafka(t)
	s := newKeyKindsServer(t, k, testConfig())
	q := url.Values{"k": {siteKeyKK}, "cid": {"v"}, "u": {"https://e.x/"}}
	req, _ := http.NewRequest("GET", s.srv.URL+"/px.gif?"+q.Encode(), nil)
	req.Header.Set("X-Forwarded-For", "198.51.100.23")
	if r := s.do(t, req); r.status != 200 {
		t.Fatalf("pixel %d", r.status)
	}
	e := decodeAll(t, k.consume(t, kafka.TopicRaw, 1))[0]
	if e.IP != "127.0.0.1" {
		t.Fatalf("ip %q, want the TCP peer", e.IP)
	}
}

// A config from before the split keeps working, and says so once per
// account at start-up.
func TestLegacyWriteKeysWarnPerAccount(t *testing.T) {
	tc, err := tenants.Parse([]byte(strings.Replace(keyKindsYAML, "site_keys: [", "write_keys: [", 1)))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	tel, err := telemetry.New(zerolog.New(&logs), "collector-test")
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)
	if _, err := New(testConfig(), Deps{Tel: tel, Producer: k.producer(t, 10), Keys: tenants.NewKeys(tc), Tenants: tc}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), `"account":"kk/branch","message":"account still uses write_keys`); n != 1 {
		t.Errorf("%d warnings for kk/branch:\n%s", n, logs.String())
	}
}
