package collector

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/twmb/franz-go/pkg/kgo"
)

// CRM webhook keys: acme/moscow runs Bitrix24, acme/spb amoCRM, acme/kazan
// only the generic hook; other/main runs its own Bitrix24.
const (
	keyKazan       = "key-acme-kazan-01"
	keyTver        = "key-acme-tver-001"
	tokenMoscow    = "b24-app-token-moscow"
	tokenOther     = "b24-app-token-other"
	redriveToken   = "operator-redrive-token-0001"
	crmFixturesDir = "internal/hooks/crm/testdata"
)

const crmTenantsYAML = `
tenants:
  - id: acme
    currency: RUB
    accounts:
      - id: moscow
        write_keys: [` + keyMoscow + `]
        crm: {provider: bitrix24, base_url: "%[1]s/rest/1/s3cr3t/", app_token: ` + tokenMoscow + `, client_id_field: UF_CRM_1640042314192, requests_per_second: 50}
      - id: spb
        write_keys: [` + keySPb + `]
        crm: {provider: amocrm, base_url: "%[2]s", subdomain: acme, app_token: long-lived}
      - id: kazan
        write_keys: [` + keyKazan + `]
      - id: tver
        write_keys: [` + keyTver + `]
        crm: {provider: amocrm, base_url: "https://tver-branch.amocrm.ru", app_token: never-used}
      - id: ekb
        write_keys: [` + keyEkb + `]
        crm: {provider: megaplan, app_token: ` + tokenMegaplan + `, lost_stages: ["42"]}
      - id: nsk
        write_keys: [` + keyNsk + `]
        crm: {provider: dynamics, app_token: ` + tokenDynamics + `}
  - id: other
    currency: USD
    accounts:
      - id: main
        write_keys: [` + keyOther + `]
        crm: {provider: bitrix24, base_url: "%[1]s/rest/9/other/", app_token: ` + tokenOther + `}
`

// vendors answers like a Bitrix24 portal's REST API (crm.*.get from the
// documented fixtures) and like amoCRM's API v4 (GET /api/v4/leads/{id}).
// While down > 0 a call fails as a rate limit (QUERY_LIMIT_EXCEEDED for
// Bitrix24, 429 for amoCRM) and counts down.
type vendors struct {
	srv   *httptest.Server
	down  atomic.Int64
	calls atomic.Int64
}

func startVendors(t *testing.T) *vendors {
	t.Helper()
	v := &vendors{}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/api/v4/leads/") {
			switch {
			case r.Header.Get("Authorization") != "Bearer long-lived":
				w.WriteHeader(http.StatusUnauthorized)
			case v.failing():
				w.WriteHeader(http.StatusTooManyRequests)
			case strings.HasSuffix(r.URL.Path, "/31926520"):
				w.Write(readFixture(t, "amocrm/lead_api.json"))
			default:
				w.WriteHeader(http.StatusNoContent)
			}
			return
		}
		if v.failing() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`)
			return
		}
		method := filepath.Base(r.URL.Path)
		switch id := r.URL.Query().Get("id"); {
		case method == "crm.deal.get" && id == "1234":
			w.Write(readFixture(t, "bitrix24/deal_won.json"))
		case method == "crm.deal.productrows.get" && id == "1234":
			fmt.Fprint(w, `{"result":[{"ID":"51","OWNER_ID":"1234","OWNER_TYPE":"D","PRODUCT_NAME":"Windscreen","PRICE":15000,"QUANTITY":2}]}`)
		case method == "crm.lead.get" && id == "880":
			w.Write(readFixture(t, "bitrix24/lead.json"))
		case method == "crm.contact.get" && id == "4401":
			w.Write(readFixture(t, "bitrix24/contact.json"))
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"","error_description":"Not found"}`)
		}
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *vendors) failing() bool {
	for {
		n := v.down.Load()
		if n <= 0 {
			return false
		}
		if v.down.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

const always = 1 << 40

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(crmFixturesDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// formFixture encodes a .form fixture (one decoded key=value per line).
func formFixture(tb testing.TB, name string) string {
	tb.Helper()
	var parts []string
	sc := bufio.NewScanner(bytes.NewReader(readFixture(tb, name)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return strings.Join(parts, "&")
}

func newCRMServer(t *testing.T, k *testKafka, v *vendors) *testServer {
	t.Helper()
	tc, err := tenants.Parse([]byte(fmt.Sprintf(crmTenantsYAML, v.srv.URL, v.srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.New(zerolog.Nop(), "collector-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.CRM.Fetch.BackoffBase = 5e6 // 5ms
	cfg.CRM.Fetch.BackoffMax = 20e6
	cfg.CRM.FetchTimeout = 2e9
	cfg.Redrive.Token = redriveToken
	c, err := New(cfg, Deps{Tel: tel, Producer: k.producer(t, 1000), Keys: tenants.NewKeys(tc), Tenants: tc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		c.crmPool.CloseIdleConnections()
	})
	return &testServer{c: c, srv: srv, client: &http.Client{Transport: tr}}
}

func (s *testServer) crmHook(tb testing.TB, provider, key, contentType, body string) response {
	tb.Helper()
	target := s.srv.URL + "/v1/hooks/crm/" + provider
	if key != "" {
		target += "?k=" + url.QueryEscape(key)
	}
	req, _ := http.NewRequest("POST", target, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return s.do(tb, req)
}

const formType = "application/x-www-form-urlencoded"

func crmEnvelopes(tb testing.TB, recs []*kgo.Record) []event.Envelope {
	tb.Helper()
	envs := decodeAll(tb, recs)
	for _, e := range envs {
		if e.Type != event.TypeCRM || e.CRM == nil || e.CRM.UpdatedAt <= 0 || !strings.HasPrefix(e.Source, "crm:") {
			tb.Fatalf("not a crm envelope: %+v", e)
		}
	}
	return envs
}

func TestCRMGeneric(t *testing.T) {
	k := startKafka(t)
	s := newCRMServer(t, k, startVendors(t))
	body := string(readFixture(t, "generic/changes.json"))
	r := s.crmHook(t, "generic", keyKazan, "application/json", body)
	if r.status != 200 || !strings.Contains(r.body, `"accepted":3`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// A duplicate delivery is published again with the same ids.
	if r := s.crmHook(t, "generic", keyKazan, "application/json", body); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	envs := crmEnvelopes(t, k.consume(t, kafka.TopicRaw, 6))
	for i := range 3 {
		if envs[i].ID != envs[i+3].ID {
			t.Fatalf("duplicate delivery got new ids: %s %s", envs[i].ID, envs[i+3].ID)
		}
		if envs[i].Tenant != "acme" || envs[i].Account != "kazan" || envs[i].Source != "crm:generic" {
			t.Fatalf("envelope %+v", envs[i])
		}
	}
	if d := envs[1].CRM; d.Outcome != "won" || d.Amount != 1_500_050 || d.Currency != "RUB" {
		t.Fatalf("deal %+v", d)
	}

	// Nothing in a request can name another account.
	r = s.crmHook(t, "generic", keyKazan, "application/json", `{"entity":"deal","deal_id":"1","updated_at":1793520000,"account":"spb"}`)
	if r.status != 400 || !strings.Contains(r.body, `"field":"account"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	dl := deadLetters(t, k, 1)[0]
	if dl.Source != "crm:generic" || dl.Tenant != "acme" || dl.Account != "kazan" || !strings.HasPrefix(dl.Reason, "account: unknown field") ||
		!strings.Contains(dl.Payload, `"deal_id":"1"`) {
		t.Fatalf("dead letter %+v", dl)
	}
}

func TestCRMAuthentication(t *testing.T) {
	k := startKafka(t)
	s := newCRMServer(t, k, startVendors(t))
	for _, tc := range []struct {
		provider, key string
		status        int
	}{
		{"generic", "", 401}, {"amocrm", "not-a-key-at-all", 401}, {"salesforce", keyKazan, 404},
	} {
		if r := s.crmHook(t, tc.provider, tc.key, "application/json", `{}`); r.status != tc.status {
			t.Errorf("%s %q: %d %s", tc.provider, tc.key, r.status, r.body)
		}
	}
	// The key in a header works too.
	req, _ := http.NewRequest("POST", s.srv.URL+"/v1/hooks/crm/generic", strings.NewReader(`{"entity":"lead","lead_id":"1","updated_at":1793520000}`))
	req.Header.Set("X-Write-Key", keyKazan)
	if r := s.do(t, req); r.status != 200 {
		t.Fatalf("header key: %d %s", r.status, r.body)
	}
	if n := k.endOffset(t, kafka.TopicDeadLetter); n != 0 {
		t.Fatalf("%d dead letters for unauthenticated requests", n)
	}
}

func TestCRMAmoCRM(t *testing.T) {
	k := startKafka(t)
	v := startVendors(t)
	s := newCRMServer(t, k, v)

	// The documented status webhook carries everything: no pull.
	r := s.crmHook(t, "amocrm", keySPb, formType, string(readFixture(t, "amocrm/status_won.txt")))
	if r.status != 200 || !strings.Contains(r.body, `"accepted":1`) || v.calls.Load() != 0 {
		t.Fatalf("%d %s, %d pulls", r.status, r.body, v.calls.Load())
	}
	// A pipeline-stage webhook carries ids only: the lead is pulled.
	r = s.crmHook(t, "amocrm", keySPb, formType, formFixture(t, "amocrm/pipeline_stage.form"))
	if r.status != 200 || !strings.Contains(r.body, `"accepted":1`) || v.calls.Load() != 1 {
		t.Fatalf("%d %s, %d pulls", r.status, r.body, v.calls.Load())
	}
	envs := crmEnvelopes(t, k.consume(t, kafka.TopicRaw, 2))
	if c := envs[0].CRM; c.Amount != 100_000 || c.Outcome != "won" || envs[0].Account != "spb" {
		t.Fatalf("status %+v", c)
	}
	if c := envs[1].CRM; c.Amount != 15_000_000 || c.ClientID != "cid-42.1793000000" || c.ContactID != "4401" || c.UpdatedAt != 1_793_520_700_000 {
		t.Fatalf("pulled %+v", c)
	}

	// Bad items: the good one is published, the delivery dead-lettered, and
	// amoCRM gets 200 so that it does not retry and switch the hook off.
	r = s.crmHook(t, "amocrm", keySPb, formType, formFixture(t, "amocrm/ugly.form"))
	if r.status != 200 || !strings.Contains(r.body, `"accepted":1`) || !strings.Contains(r.body, `"dead_lettered":true`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	dl := deadLetters(t, k, 1)[0]
	if dl.Source != "crm:amocrm" || !strings.Contains(dl.Reason, "leads[update][1][id]: required") || !strings.Contains(dl.Reason, "leads[update][2][price]") {
		t.Fatalf("dead letter %+v", dl)
	}

	// amoCRM's API is rate-limiting: the delivery is accepted and
	// dead-lettered with "fetch failed" for a re-drive.
	v.down.Store(always)
	r = s.crmHook(t, "amocrm", keySPb, formType, formFixture(t, "amocrm/pipeline_stage.form"))
	if r.status != 200 || !strings.Contains(r.body, `"accepted":0`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	dl = deadLetters(t, k, 2)[1]
	if !strings.HasPrefix(dl.Reason, "fetch failed: lead 31926520: amocrm GET /api/v4/leads: HTTP 429") {
		t.Fatalf("dead letter %+v", dl)
	}

	// A webhook of another amoCRM account pointed at this key is refused.
	r = s.crmHook(t, "amocrm", keyTver, formType, string(readFixture(t, "amocrm/status_won.txt")))
	if r.status != 200 || !strings.Contains(r.body, `"accepted":0`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Dead letters of different accounts sit on different partitions, so
	// their order across partitions is not defined: find tver's by account.
	var tver *event.DeadLetter
	for _, d := range deadLetters(t, k, 3) {
		if d.Account == "tver" {
			tver = &d
		}
	}
	if tver == nil || tver.Reason != "unauthenticated: account[subdomain]: acme is not this account's amoCRM (tver-branch)" {
		t.Fatalf("dead letter of tver: %+v", tver)
	}
	if k.endOffset(t, kafka.TopicRaw) != 3 {
		t.Fatalf("raw records: %d", k.endOffset(t, kafka.TopicRaw))
	}
}

func TestCRMBitrix24(t *testing.T) {
	k := startKafka(t)
	v := startVendors(t)
	s := newCRMServer(t, k, v)
	delivery := formFixture(t, "bitrix24/event_deal_update.form")
	ours := strings.Replace(delivery, "b24-app-token-branch-7", tokenMoscow, 1)

	// The portal answers QUERY_LIMIT_EXCEEDED twice, then the deal, then
	// the won deal's product rows (its units).
	v.down.Store(2)
	r := s.crmHook(t, "bitrix24", keyMoscow, formType, ours)
	if r.status != 200 || !strings.Contains(r.body, `"accepted":1`) || v.calls.Load() != 4 {
		t.Fatalf("%d %s after %d calls", r.status, r.body, v.calls.Load())
	}
	e := crmEnvelopes(t, k.consume(t, kafka.TopicRaw, 1))[0]
	want := event2CRM{"bitrix24", "deal", "1234", "won", 100_000_000, "RUB", "cid-42.1793000000"}
	if got := (event2CRM{e.CRM.Provider, e.CRM.Entity, e.CRM.DealID, e.CRM.Outcome, e.CRM.Amount, e.CRM.Currency, e.CRM.ClientID}); got != want || e.Account != "moscow" || e.CRM.Units != 2 {
		t.Fatalf("got %+v in %s", got, e.Account)
	}

	// Another account's application token is refused, and the dead letter
	// keeps no token.
	r = s.crmHook(t, "bitrix24", keyMoscow, formType, strings.Replace(delivery, "b24-app-token-branch-7", tokenOther, 1))
	if r.status != 401 {
		t.Fatalf("foreign token: %d %s", r.status, r.body)
	}
	// The other tenant's key with moscow's token is refused too.
	if r := s.crmHook(t, "bitrix24", keyOther, formType, ours); r.status != 401 {
		t.Fatalf("other key, moscow token: %d %s", r.status, r.body)
	}
	dls := deadLetters(t, k, 2)
	for _, dl := range dls {
		if !strings.HasPrefix(dl.Reason, "unauthenticated: auth[application_token]") || strings.Contains(dl.Payload, "b24-app-token") ||
			!strings.Contains(dl.Payload, "REDACTED") {
			t.Fatalf("dead letter %+v", dl)
		}
	}
	if dls[0].Account != "moscow" || dls[1].Tenant != "other" {
		t.Fatalf("dead letters filed under %s/%s and %s/%s", dls[0].Tenant, dls[0].Account, dls[1].Tenant, dls[1].Account)
	}
	// An account without Bitrix24 cannot take its events.
	if r := s.crmHook(t, "bitrix24", keyKazan, formType, ours); r.status != 403 {
		t.Fatalf("no integration: %d %s", r.status, r.body)
	}
	// Events Throughline does not map are acknowledged and counted.
	company := strings.Replace(ours, "ONCRMDEALUPDATE", "ONCRMCOMPANYUPDATE", 1)
	if r := s.crmHook(t, "bitrix24", keyMoscow, formType, company); r.status != 200 || !strings.Contains(r.body, `"ignored":1`) {
		t.Fatalf("company: %d %s", r.status, r.body)
	}
	// Deletes are not fetched.
	calls := v.calls.Load()
	del := strings.Replace(ours, "ONCRMDEALUPDATE", "ONCRMDEALDELETE", 1)
	if r := s.crmHook(t, "bitrix24", keyMoscow, formType, del); r.status != 200 || v.calls.Load() != calls {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if e := crmEnvelopes(t, k.consume(t, kafka.TopicRaw, 2))[1]; e.CRM.Action != "delete" || e.CRM.UpdatedAt != 1_793_520_000_000 {
		t.Fatalf("delete %+v", e.CRM)
	}
}

// event2CRM is the part of a CRM change the Bitrix24 test compares.
type event2CRM struct {
	Provider, Entity, DealID, Outcome string
	Amount                            int64
	Currency, ClientID                string
}

// TestCRMBitrix24FetchFailureIsRedriven: Bitrix24 never retries, so an event
// whose deal cannot be fetched is accepted and kept as a dead letter; once
// the portal answers again, re-driving it publishes the deal.
func TestCRMBitrix24FetchFailureIsRedriven(t *testing.T) {
	k := startKafka(t)
	v := startVendors(t)
	s := newCRMServer(t, k, v)
	ours := strings.Replace(formFixture(t, "bitrix24/event_deal_update.form"), "b24-app-token-branch-7", tokenMoscow, 1)
	v.down.Store(always)
	r := s.crmHook(t, "bitrix24", keyMoscow, formType, ours)
	if r.status != 200 || !strings.Contains(r.body, `"dead_lettered":true`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	dl := deadLetters(t, k, 1)[0]
	if !strings.HasPrefix(dl.Reason, "fetch failed: fetching deal 1234: bitrix24 crm.deal.get: QUERY_LIMIT_EXCEEDED (HTTP 503)") ||
		strings.Contains(dl.Reason, "s3cr3t") || strings.Contains(dl.Payload, tokenMoscow) {
		t.Fatalf("dead letter %+v", dl)
	}
	if !strings.Contains(s.metrics(t), `throughline_collector_rejected_total{field="",reason="fetch_failed",source="crm:bitrix24"} 1`) {
		t.Fatal("fetch failure not counted")
	}

	v.down.Store(0)
	raw, _ := json.Marshal(dl)
	redrive := func(token string, body []byte) response {
		req, _ := http.NewRequest("POST", s.srv.URL+"/v1/internal/redrive", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		return s.do(t, req)
	}
	if r := redrive("wrong-token-000000000", raw); r.status != 401 {
		t.Fatalf("wrong token: %d", r.status)
	}
	r = redrive(redriveToken, raw)
	if r.status != 200 || !strings.Contains(r.body, `"status":200`) || !strings.Contains(r.body, `\"accepted\":1`) {
		t.Fatalf("redrive: %d %s", r.status, r.body)
	}
	e := crmEnvelopes(t, k.consume(t, kafka.TopicRaw, 1))[0]
	if e.Account != "moscow" || e.CRM.DealID != "1234" || e.CRM.Outcome != "won" {
		t.Fatalf("re-driven %+v", e)
	}
	// Re-driving twice publishes the same id again: harmless downstream.
	if r := redrive(redriveToken, raw); r.status != 200 {
		t.Fatal(r.body)
	}
	if again := crmEnvelopes(t, k.consume(t, kafka.TopicRaw, 2))[1]; again.ID != e.ID {
		t.Fatalf("ids differ: %s %s", again.ID, e.ID)
	}

	// Refused: deliveries that failed authentication, sources the collector
	// does not serve, unknown accounts.
	for _, bad := range []event.DeadLetter{
		{V: 1, Tenant: "acme", Account: "moscow", Source: "crm:bitrix24", Reason: "unauthenticated: auth[application_token]: x", Payload: ours},
		{V: 1, Tenant: "acme", Account: "moscow", Source: "loader", Reason: "undecodable", Payload: "x"},
		{V: 1, Tenant: "acme", Account: "ryazan", Source: "crm:generic", Reason: "x", Payload: "{}"},
	} {
		b, _ := json.Marshal(bad)
		if r := redrive(redriveToken, b); r.status != 422 && r.status != 404 {
			t.Fatalf("%+v: %d %s", bad, r.status, r.body)
		}
	}
}

func TestCRMDeadLetterCountsPerSource(t *testing.T) {
	k := startKafka(t)
	s := newCRMServer(t, k, startVendors(t))
	m := s.metrics(t)
	for _, src := range []string{"pixel", "api", "crm:generic", "crm:amocrm", "crm:bitrix24"} {
		if line := fmt.Sprintf(`throughline_collector_dead_letters_total{outcome="published",source=%q} 0`, src); !strings.Contains(m, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	s.crmHook(t, "generic", keyKazan, "application/json", `{"entity":"deal"}`)
	deadLetters(t, k, 1)
	if line := `throughline_collector_dead_letters_total{outcome="published",source="crm:generic"} 1`; !strings.Contains(s.metrics(t), line) {
		t.Errorf("/metrics lacks %s", line)
	}
}
