package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/redrive"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The isolation network: acme/moscow is the sender ("A"); acme/spb is
// another account of its tenant ("B") and other/main an account of another
// tenant ("Y"). Every account has every call-tracking provider and a CRM,
// so a refusal can only come from the key, never from a missing integration.
const isolationYAML = `
tenants:
  - id: acme
    timezone: Europe/Moscow
    currency: RUB
    tenant_keys: [` + tenantKeyAcme + `]
    accounts:
      - id: moscow
        write_keys: [` + keyMoscow + `]
        call_tracking: [{provider: generic}, {provider: calltouch}, {provider: comagic}, {provider: mango, secret: salt-moscow}]
        crm: {provider: bitrix24, base_url: "%[1]s/rest/1/moscow/", app_token: ` + tokenMoscow + `, requests_per_second: 100}
      - id: spb
        write_keys: [` + keySPb + `]
        call_tracking: [{provider: generic}, {provider: calltouch}, {provider: comagic}, {provider: mango, secret: salt-spb}]
        crm: {provider: amocrm, base_url: "%[1]s", subdomain: acme, app_token: long-lived}
  - id: other
    currency: RUB
    tenant_keys: [` + tenantKeyOther + `]
    accounts:
      - id: main
        write_keys: [` + keyOther + `]
        call_tracking: [{provider: generic}, {provider: calltouch}, {provider: comagic}, {provider: mango, secret: salt-main}]
        crm: {provider: bitrix24, base_url: "%[1]s/rest/9/other/", app_token: ` + tokenOther + `}
`

// isolationCase is one attempt to write somewhere else than the key's
// scope. Whatever the answer, every record written — events, costs, dead
// letters — must belong to the scope: tenant, and account when the scope
// has one (a tenant key's rows may go to its accounts or centrally).
type isolationCase struct {
	endpoint, attempt string
	scope             tenants.Principal
	status            int  // the answer (the inner answer for re-drives)
	writes            bool // at least one record (or dead letter) is written
	send              func(t *testing.T, s *testServer) response
}

// post sends body to path with the key in the URL (?k= appended) or, with
// bearer, in Authorization.
func post(path, key, ctype string, body []byte) func(*testing.T, *testServer) response {
	return func(t *testing.T, s *testServer) response {
		target := path
		if key != "" && !strings.Contains(path, "k=") {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			target += sep + "k=" + url.QueryEscape(key)
		}
		return s.send(t, "POST", target, ctype, body, nil)
	}
}

func bearer(path, key, ctype string, body []byte) func(*testing.T, *testServer) response {
	return func(t *testing.T, s *testServer) response {
		return s.send(t, "POST", path, ctype, body, map[string]string{"Authorization": "Bearer " + key})
	}
}

// redriven re-submits a dead letter through the operators' endpoint; the
// answer is what the source's route answered.
func redriven(dl event.DeadLetter, token string) func(*testing.T, *testServer) response {
	return func(t *testing.T, s *testServer) response {
		b, _ := json.Marshal(dl)
		r := s.send(t, "POST", "/v1/internal/redrive", "application/json", b, map[string]string{"Authorization": "Bearer " + token})
		if r.status != http.StatusOK {
			return r
		}
		var inner redrive.Answer
		if err := json.Unmarshal([]byte(r.body), &inner); err != nil {
			t.Fatal(err)
		}
		return response{status: inner.Status, body: inner.Body}
	}
}

// TestKeysCannotWriteElsewhere is the one list of isolation guarantees, for
// every write endpoint: a key of account A never writes into account B, a
// tenant key of tenant X never into tenant Y, whatever the body claims —
// checked on every record of the raw, costs and dead-letter topics. The
// per-endpoint tests (TestCallHookKeyCannotWriteAnotherAccount,
// TestCostKeysCannotWriteElsewhere, TestCRMAuthentication, TestKeyIsTheAccount)
// stay; this is the list a reviewer reads.
func TestKeysCannotWriteElsewhere(t *testing.T) {
	A := tenants.Principal{Tenant: "acme", Account: "moscow"}
	X := tenants.Principal{Tenant: "acme"}
	Y := tenants.Principal{Tenant: "other"}
	fixture := func(dir, name string) []byte { return hookFixture(t, dir, name) }
	mangoSummary := string(fixture(callFixtures, "mango/summary.json"))
	b24Event := func(token string) []byte {
		return []byte(strings.Replace(formFixture(t, "bitrix24/event_deal_update.form"),
			"b24-app-token-branch-7", url.QueryEscape(token), 1))
	}
	csv := func(account string) []byte {
		return []byte("date,account,channel,campaign,cost\n2026-03-01," + account + ",google_ads,brand,10.00\n")
	}
	genericCall := []byte(`{"call_id": "iso-1", "started_at": 1772349300, "tenant": "other", "client_id": "c1"}`)
	crmChange := `{"entity": "lead", "lead_id": "L-1", "updated_at": 1772349300%s}`
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)

	cases := []isolationCase{
		// GET /px.gif: the key decides; parameters naming another tenant or account are props.
		{"pixel", "props naming B and Y", A, 200, true,
			func(t *testing.T, s *testServer) response {
				return s.pixel(t, "k="+keyMoscow+"&cid=c1&u=https%3A%2F%2Fspb.example%2F&p.account=spb&p.tenant=other", nil)
			}},
		{"pixel", "a tenant key", X, 200, false,
			func(t *testing.T, s *testServer) response { return s.pixel(t, "k="+tenantKeyAcme+"&cid=c1", nil) }},

		// POST /v1/events
		{"events", "items with tenant and account fields", A, 400, true,
			bearer("/v1/events", keyMoscow, "application/json",
				[]byte(`[{"id":"e1","type":"pageview","client_id":"c1","tenant":"other","account":"spb"}]`))},
		{"events", "props naming B", A, 202, true,
			bearer("/v1/events", keyMoscow, "application/json",
				[]byte(`[{"id":"e1","type":"event","name":"x","ts":`+now+`,"client_id":"c1","props":{"account":"spb","tenant":"other"}}]`))},
		{"events", "a tenant key", X, 401, false, bearer("/v1/events", tenantKeyAcme, "application/json", []byte(`[]`))},

		// POST /v1/hooks/calls/{provider}
		{"calls generic", "body names account B", A, 403, true,
			post("/v1/hooks/calls/generic", keyMoscow, "application/json", []byte(`{"call_id":"iso-1","started_at":1772349300,"account":"spb"}`))},
		{"calls generic", "body names tenant Y", A, 200, true, post("/v1/hooks/calls/generic", keyMoscow, "application/json", genericCall)},
		{"calls generic", "a tenant key", X, 401, false, post("/v1/hooks/calls/generic", tenantKeyAcme, "application/json", genericCall)},
		{"calls calltouch", "parameters naming B", A, 200, true,
			post("/v1/hooks/calls/calltouch", keyMoscow, form,
				append(bytes.TrimSpace(fixture(callFixtures, "calltouch/disconnected.query")), "&account=spb&tenant=other&hostname=spb.example"...))},
		{"calls comagic", "a delivery of another account's site", A, 200, true,
			post("/v1/hooks/calls/comagic", keyMoscow, "application/json", fixture(callFixtures, "comagic/call_end.json"))},
		{"calls mango", "signed with B's salt", A, 403, true,
			post("/v1/hooks/calls/mango/k/"+keyMoscow+"/events/summary", "", form, mangoForm(mangoSummary, "salt-spb"))},
		{"calls mango", "signed with Y's salt", A, 403, true,
			post("/v1/hooks/calls/mango/k/"+keyMoscow+"/events/summary", "", form, mangoForm(mangoSummary, "salt-main"))},
		{"calls mango", "B's key in the path, A's in the query", A, 200, true,
			post("/v1/hooks/calls/mango/k/"+keySPb+"/events/summary?k="+keyMoscow, "", form, mangoForm(mangoSummary, "salt-moscow"))},
		{"calls mango", "a tenant key", X, 401, false,
			post("/v1/hooks/calls/mango/k/"+tenantKeyAcme+"/events/summary", "", form, mangoForm(mangoSummary, "salt-moscow"))},

		// POST /v1/hooks/crm/{provider}
		{"crm generic", "a change naming account B", A, 400, true,
			post("/v1/hooks/crm/generic", keyMoscow, "application/json", []byte(fmt.Sprintf(crmChange, `, "account": "spb"`)))},
		{"crm generic", "a change naming tenant Y", A, 400, true,
			post("/v1/hooks/crm/generic", keyMoscow, "application/json", []byte(fmt.Sprintf(crmChange, `, "tenant": "other"`)))},
		{"crm generic", "a tenant key", X, 401, false,
			post("/v1/hooks/crm/generic", tenantKeyAcme, "application/json", []byte(fmt.Sprintf(crmChange, "")))},
		{"crm amocrm", "B's amoCRM account in the delivery, A has no amoCRM", A, 403, true,
			post("/v1/hooks/crm/amocrm", keyMoscow, form, fixture(crmFixturesDir, "amocrm/status_won.txt"))},
		{"crm bitrix24", "Y's application token", A, 401, true,
			post("/v1/hooks/crm/bitrix24", keyMoscow, form, b24Event(tokenOther))},
		{"crm bitrix24", "A's own token: pulled from A's portal", A, 200, true,
			post("/v1/hooks/crm/bitrix24", keyMoscow, form, b24Event(tokenMoscow))},
		{"crm bitrix24", "a tenant key", X, 401, false, post("/v1/hooks/crm/bitrix24", tenantKeyAcme, form, b24Event(tokenMoscow))},

		// POST /v1/costs
		{"costs generic", "account key, ?account=B", A, 403, true, bearer("/v1/costs?account=spb", keyMoscow, "text/csv", csv(""))},
		{"costs generic", "account key, a row for B", A, 403, true, bearer("/v1/costs", keyMoscow, "text/csv", csv("spb"))},
		{"costs generic", "account key, a row for Y's account", A, 403, true, bearer("/v1/costs", keyMoscow, "text/csv", csv("main"))},
		{"costs generic", "account key, its own rows", A, 200, true, bearer("/v1/costs", keyMoscow, "text/csv", csv("moscow"))},
		{"costs generic", "tenant key X, ?account= of Y", X, 403, true, bearer("/v1/costs?account=main", tenantKeyAcme, "text/csv", csv(""))},
		{"costs generic", "tenant key Y, a row for X's account", Y, 403, true, bearer("/v1/costs", tenantKeyOther, "text/csv", csv("moscow"))},
		{"costs generic", "tenant key X, central and per-account rows", X, 200, true,
			bearer("/v1/costs", tenantKeyAcme, "text/csv", append(csv("spb"), "2026-03-01,,vk_ads,c,1.00\n"...))},
		{"costs yandex", "account key", A, 200, true,
			bearer("/v1/costs?format=yandex", keyMoscow, "text/tab-separated-values", fixture(costFixtures, "yandex/report.tsv"))},
		{"costs google", "account key, ?account=B", A, 403, true,
			bearer("/v1/costs?format=google&account=spb", keyMoscow, "application/json", fixture(costFixtures, "google/stream.json"))},
		{"costs vk", "tenant key Y, ?account= of X", Y, 403, true,
			bearer("/v1/costs?format=vk&account=moscow", tenantKeyOther, "application/json", fixture(costFixtures, "vk/day.json"))},

		// POST /v1/internal/redrive: a dead letter is re-driven as the account it was received for.
		{"redrive", "A's write key as the operator token", A, 401, false,
			redriven(event.DeadLetter{Tenant: "acme", Account: "spb", Source: "hook:generic", Payload: string(genericCall)}, keyMoscow)},
		{"redrive", "A's call naming account B", A, 403, true,
			redriven(event.DeadLetter{Tenant: "acme", Account: "moscow", Source: "hook:generic",
				Payload: `{"call_id":"iso-2","started_at":1772349300,"account":"spb"}`}, redriveToken)},
		{"redrive", "A's events naming B and Y in props", A, 202, true,
			redriven(event.DeadLetter{Tenant: "acme", Account: "moscow", Source: "api",
				Payload: `[{"id":"e2","type":"event","name":"x","ts":` + now + `,"client_id":"c1","props":{"account":"spb","tenant":"other"}}]`}, redriveToken)},
		{"redrive", "X's central costs with a row for Y's account", X, 403, true,
			redriven(event.DeadLetter{Tenant: "acme", Source: "costs:generic", Reason: "x (format=generic)",
				Payload: string(csv("main"))}, redriveToken)},
	}

	vendors := startVendors(t)
	for _, tc := range cases {
		t.Run(tc.endpoint+"/"+tc.attempt, func(t *testing.T) {
			k := startKafka(t)
			s := newIsolationServer(t, k.producer(t, 1000), vendors.srv.URL)
			r := tc.send(t, s)
			if r.status != tc.status {
				t.Fatalf("answered %d %s, want %d", r.status, r.body, tc.status)
			}
			n := 0
			for _, topic := range []string{kafka.TopicRaw, kafka.TopicCosts, kafka.TopicDeadLetter} {
				for _, rec := range k.all(t, topic) {
					n++
					tenant, account := recordScope(t, rec)
					if tenant != tc.scope.Tenant || tc.scope.Account != "" && account != tc.scope.Account {
						t.Errorf("%s: a record for %s/%s from a key of %s/%s", topic, tenant, account, tc.scope.Tenant, tc.scope.Account)
					}
				}
			}
			if tc.writes != (n > 0) {
				t.Errorf("%d records written, want some: %v", n, tc.writes)
			}
		})
	}
}

// recordScope is the tenant and account a record was written for: the
// envelope's (and its key must agree), or the dead letter's.
func recordScope(t *testing.T, rec *kgo.Record) (string, string) {
	t.Helper()
	if rec.Topic == kafka.TopicDeadLetter {
		var dl event.DeadLetter
		if err := json.Unmarshal(rec.Value, &dl); err != nil {
			t.Fatal(err)
		}
		if rec.Key != nil && string(rec.Key) != dl.Tenant+"/"+dl.Account {
			t.Errorf("dead letter keyed %q for %s/%s", rec.Key, dl.Tenant, dl.Account)
		}
		return dl.Tenant, dl.Account
	}
	e, err := event.Decode(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Key) != e.Tenant+"/"+e.Account {
		t.Errorf("record keyed %q for %s/%s", rec.Key, e.Tenant, e.Account)
	}
	return e.Tenant, e.Account
}

// all reads every record of a topic.
func (k *testKafka) all(tb testing.TB, topic string) []*kgo.Record {
	tb.Helper()
	n := k.endOffset(tb, topic)
	if n == 0 {
		return nil
	}
	return k.consume(tb, topic, int(n))
}

func newIsolationServer(tb testing.TB, producer *kgo.Client, vendorsURL string) *testServer {
	tb.Helper()
	tc, err := tenants.Parse([]byte(fmt.Sprintf(isolationYAML, vendorsURL)))
	if err != nil {
		tb.Fatal(err)
	}
	tel, err := telemetry.New(zerolog.Nop(), "collector-test")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := testConfig()
	cfg.Redrive.Token = redriveToken
	c, err := New(cfg, Deps{Tel: tel, Producer: producer, Keys: tenants.NewKeys(tc), Tenants: tc})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.crmPool.CloseIdleConnections)
	return serve(tb, c)
}
