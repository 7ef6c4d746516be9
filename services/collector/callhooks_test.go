package collector

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/pkg/vendorsign"
	"github.com/throughline/throughline/services/collector/internal/hooks/calls"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Keys of the integrations tests: tenant keys upload central costs; the
// "limited" tenant has a rate limit of two requests and then one per 100 s.
const (
	tenantKeyAcme  = "tenant-acme-0001"
	tenantKeyOther = "tenant-other-001"
	keyLimited     = "key-limited-shop1"
	mangoSecret    = "mango-salt-0123456789"
	callFixtures   = "internal/hooks/calls/testdata"
	costFixtures   = "internal/costs/testdata"
)

const integrationsYAML = `
tenants:
  - id: acme
    timezone: Europe/Moscow
    currency: RUB
    tenant_keys: [` + tenantKeyAcme + `]
    accounts:
      - id: moscow
        write_keys: [` + keyMoscow + `]
        call_tracking:
          - provider: generic
            static_numbers: {"+74950000000": {channel: offline, source: billboard, medium: outdoor, campaign: metro}}
          - provider: calltouch
            number_pool: {numbers: [` + poolNumber1 + `, ` + poolNumber2 + `], replace: ["+7 (495) 000-00-00", "+74950000000"]}
          - {provider: comagic}
          - {provider: mango, secret: ` + mangoSecret + `}
          - {provider: alloka, secret: ` + allokaToken + `}
          - {provider: callibri}
        chats: [{provider: jivo, token: ` + jivoToken + `}, {provider: generic}]
      - id: spb
        write_keys: [` + keySPb + `]
        call_tracking: [{provider: generic}]
  - id: other
    currency: USD
    tenant_keys: [` + tenantKeyOther + `]
    accounts:
      - id: main
        write_keys: [` + keyOther + `]
        call_tracking: [{provider: generic}, {provider: mango, secret: another-salt}]
  - id: limited
    rate_limit: {per_second: 0.01, burst: 2}
    accounts:
      - id: shop
        write_keys: [` + keyLimited + `]
        call_tracking: [{provider: generic, number_pool: {numbers: ["+78121110001"], replace: ["+78120000000"]}}]
`

// newIntegrationsServer is a collector with the integrations configuration.
func newIntegrationsServer(tb testing.TB, producer *kgo.Client) *testServer {
	tb.Helper()
	tc, err := tenants.Parse([]byte(integrationsYAML))
	if err != nil {
		tb.Fatal(err)
	}
	tel, err := telemetry.New(zerolog.Nop(), "collector-test")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := New(testConfig(), Deps{Tel: tel, Producer: producer, Keys: tenants.NewKeys(tc), Tenants: tc})
	if err != nil {
		tb.Fatal(err)
	}
	c.RestoreLeases(context.Background())
	return serve(tb, c)
}

func serve(tb testing.TB, c *Collector) *testServer {
	tb.Helper()
	srv := httptest.NewServer(c.Handler())
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return &testServer{c: c, srv: srv, client: &http.Client{Transport: tr}}
}

func (s *testServer) send(tb testing.TB, method, path, contentType string, body []byte, hdr map[string]string) response {
	tb.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, strings.NewReader(string(body)))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return s.do(tb, req)
}

func hookFixture(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mangoForm is a Mango delivery of jsonText, signed with salt.
func mangoForm(jsonText, salt string) []byte {
	const apiKey = "vpbx-api-key-abc"
	return []byte(url.Values{"vpbx_api_key": {apiKey}, "sign": {vendorsign.Mango(apiKey, jsonText, salt)}, "json": {jsonText}}.Encode())
}

const form = "application/x-www-form-urlencoded"

func TestCallHooksEndToEnd(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	summary := string(hookFixture(t, callFixtures, "mango/summary.json"))
	ctQuery := string(hookFixture(t, callFixtures, "calltouch/disconnected.query"))
	deliveries := []struct {
		name, method, path, ctype string
		body                      []byte
		hdr                       map[string]string
		callID, channel           string
	}{
		{"generic", "POST", "/v1/hooks/calls/generic", "application/json",
			hookFixture(t, callFixtures, "generic/full.json"), map[string]string{"X-Write-Key": keyMoscow}, "pbx-20260301-0042", ""},
		{"generic static number", "POST", "/v1/hooks/calls/generic?k=" + keyMoscow, "application/json",
			hookFixture(t, callFixtures, "generic/static_number.json"), nil, "st-1", "offline"},
		{"calltouch GET", "GET", "/v1/hooks/calls/calltouch?k=" + keyMoscow + "&" + ctQuery, "", nil, nil, "4471736", ""},
		{"calltouch POST", "POST", "/v1/hooks/calls/calltouch?k=" + keyMoscow, form,
			hookFixture(t, callFixtures, "calltouch/connected.form"), nil, "4471736", ""},
		{"comagic", "POST", "/v1/hooks/calls/comagic?k=" + keyMoscow, "application/json",
			hookFixture(t, callFixtures, "comagic/call_end.json"), nil, "2873611902", ""},
		// Mango appends events/<kind> to the address it was given: with the
		// key in a path segment, and with the key in the query.
		{"mango path key", "POST", "/v1/hooks/calls/mango/k/" + keyMoscow + "/events/summary", form,
			mangoForm(summary, mangoSecret), nil, "MjY4NDM0NzQyNjo0MDE=", ""},
		{"mango query key", "POST", "/v1/hooks/calls/mango?k=" + keyMoscow + "/events/summary", form,
			mangoForm(summary, mangoSecret), nil, "MjY4NDM0NzQyNjo0MDE=", ""},
	}
	for _, d := range deliveries {
		r := s.send(t, d.method, d.path, d.ctype, d.body, d.hdr)
		if r.status != http.StatusOK || !strings.Contains(r.body, `"accepted":1`) {
			t.Fatalf("%s: %d %s", d.name, r.status, r.body)
		}
	}
	recs := k.consume(t, kafka.TopicRaw, len(deliveries))
	if n := k.endOffset(t, kafka.TopicRaw); n != int64(len(deliveries)) || k.endOffset(t, kafka.TopicDeadLetter) != 0 {
		t.Fatalf("%d records", n)
	}
	byCall := map[string][]event.Envelope{}
	for _, e := range decodeAll(t, recs) {
		if e.Type != event.TypeCall || e.Tenant != "acme" || e.Account != "moscow" || e.Call == nil {
			t.Fatalf("envelope %+v", e)
		}
		byCall[e.Call.CallID] = append(byCall[e.Call.CallID], e)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Value), keyMoscow) {
			t.Fatal("write key in a record")
		}
	}
	for _, d := range deliveries {
		if len(byCall[d.callID]) == 0 {
			t.Fatalf("%s: no call %s", d.name, d.callID)
		}
		if e := byCall[d.callID][0]; e.Call.Channel != d.channel {
			t.Fatalf("%s: channel %q", d.name, e.Call.Channel)
		}
	}
	st := byCall["st-1"][0]
	if st.UTM != (event.UTM{Source: "billboard", Medium: "outdoor", Campaign: "metro"}) || st.Call.TalkSec != 61 || !st.Call.Answered {
		t.Fatalf("static-number call %+v %+v", st.UTM, st.Call)
	}
	ct := byCall["4471736"]
	if len(ct) != 2 || ct[0].ID == ct[1].ID {
		t.Fatalf("calltouch start and end must be two events of one call: %+v", ct)
	}
	mango := byCall["MjY4NDM0NzQyNjo0MDE="]
	if len(mango) != 2 || mango[0].ID != mango[1].ID || mango[0].Call.TalkSec != 95 || mango[0].Call.TrackingNumber != "+74951234567" {
		t.Fatalf("a Mango summary delivered twice must be one event id: %+v", mango)
	}
	gen := byCall["pbx-20260301-0042"][0]
	if gen.Call.CallerPhone != "+79161234567" || gen.ClientID != "tl.8f14e45fceea167a" || gen.Source != "hook:generic" {
		t.Fatalf("generic call %+v", gen)
	}
}

func TestCallHooksRefused(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	summary := string(hookFixture(t, callFixtures, "mango/summary.json"))
	state := string(hookFixture(t, callFixtures, "mango/call_state.json"))
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		deadLetter                string // source of the dead letter, "" for none
		reason                    string
	}{
		{"bad mango signature", "POST", "/v1/hooks/calls/mango?k=" + keyMoscow, form, mangoForm(summary, "wrong-salt"),
			403, "hook:mango", "unauthenticated: sign:"},
		{"unknown provider", "POST", "/v1/hooks/calls/sipuni?k=" + keyMoscow, "application/json", []byte(`{}`),
			404, "hook:unknown", "provider: unknown call-tracking provider \"sipuni\""},
		{"unknown provider without key", "POST", "/v1/hooks/calls/sipuni", "application/json", []byte(`{}`), 404, "", ""},
		{"missing key", "POST", "/v1/hooks/calls/generic", "application/json", []byte(`{}`), 401, "", ""},
		{"unknown key", "POST", "/v1/hooks/calls/generic?k=nobody-has-this-key", "application/json", []byte(`{}`), 401, "", ""},
		{"tenant key", "POST", "/v1/hooks/calls/generic?k=" + tenantKeyAcme, "application/json", []byte(`{}`), 401, "", ""},
		{"provider not enabled", "POST", "/v1/hooks/calls/calltouch?k=" + keySPb, form, []byte("callId=1&timestamp=1772349300"),
			403, "hook:calltouch", "provider: calltouch is not enabled for account spb"},
		{"missing call id", "POST", "/v1/hooks/calls/generic?k=" + keyMoscow, "application/json",
			hookFixture(t, callFixtures, "generic/missing_call_id.json"), 400, "hook:generic", "call_id: required"},
		{"wrong type", "POST", "/v1/hooks/calls/calltouch?k=" + keyMoscow, form,
			hookFixture(t, callFixtures, "calltouch/bad_duration.query"), 400, "hook:calltouch", "duration:"},
		{"GET where only POST is sent", "GET", "/v1/hooks/calls/generic?k=" + keyMoscow, "", nil, 405, "", ""},
		{"mango events/call is acknowledged, not a call", "POST", "/v1/hooks/calls/mango/k/" + keyMoscow + "/events/call", form,
			mangoForm(state, mangoSecret), 200, "", ""},
	}
	want := 0
	for _, tc := range cases {
		r := s.send(t, tc.method, tc.path, tc.ctype, tc.body, nil)
		if r.status != tc.status {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
		if tc.deadLetter != "" {
			want++
		}
	}
	if n := k.endOffset(t, kafka.TopicRaw); n != 0 {
		t.Fatalf("%d calls published from refused deliveries", n)
	}
	dls := deadLetters(t, k, want)
	for _, tc := range cases {
		if tc.deadLetter == "" {
			continue
		}
		found := false
		for _, dl := range dls {
			if dl.Source == tc.deadLetter && strings.HasPrefix(dl.Reason, tc.reason) {
				found = true
				if dl.Tenant != "acme" || dl.Payload == "" || strings.Contains(dl.Payload, keyMoscow) || strings.Contains(dl.Payload, keySPb) {
					t.Fatalf("%s: dead letter %+v", tc.name, dl)
				}
			}
		}
		if !found {
			t.Fatalf("%s: no dead letter from %s with reason %q in %+v", tc.name, tc.deadLetter, tc.reason, dls)
		}
	}
}

func TestCallHookKeyCannotWriteAnotherAccount(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	// spb's key names moscow in the payload: refused, nothing written for moscow.
	body := []byte(`{"call_id": "x-1", "started_at": 1772349300, "account": "moscow"}`)
	if r := s.send(t, "POST", "/v1/hooks/calls/generic?k="+keySPb, "application/json", body, nil); r.status != 403 {
		t.Fatalf("spb key writing for moscow: %d %s", r.status, r.body)
	}
	// Another tenant's key naming acme's account: refused too.
	if r := s.send(t, "POST", "/v1/hooks/calls/generic?k="+keyOther, "application/json", body, nil); r.status != 403 {
		t.Fatalf("other tenant's key writing for moscow: %d %s", r.status, r.body)
	}
	// The same call id under each key is that key's account's call, nobody else's.
	body = []byte(`{"call_id": "x-1", "started_at": 1772349300}`)
	for _, key := range []string{keySPb, keyOther} {
		if r := s.send(t, "POST", "/v1/hooks/calls/generic?k="+key, "application/json", body, nil); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	// A Mango delivery signed with another account's salt does not verify.
	summary := string(hookFixture(t, callFixtures, "mango/summary.json"))
	if r := s.send(t, "POST", "/v1/hooks/calls/mango?k="+keyMoscow, form, mangoForm(summary, "another-salt"), nil); r.status != 403 {
		t.Fatalf("moscow accepted a delivery signed for other/main: %d", r.status)
	}
	envs := decodeAll(t, k.consume(t, kafka.TopicRaw, 2))
	got := map[string]bool{}
	for _, e := range envs {
		got[e.Tenant+"/"+e.Account] = true
	}
	if len(envs) != 2 || !got["acme/spb"] || !got["other/main"] || envs[0].ID == envs[1].ID {
		t.Fatalf("calls landed in %v", got)
	}
	if k.endOffset(t, kafka.TopicRaw) != 2 {
		t.Fatal("a refused call was published")
	}
	for _, dl := range deadLetters(t, k, 3) {
		if dl.Account == "moscow" && dl.Source != "hook:mango" {
			t.Fatalf("a refused delivery was filed under the account it tried to write to: %+v", dl)
		}
	}
}

func TestCallHookReply(t *testing.T) {
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	r := s.send(t, "POST", "/v1/hooks/calls/generic?k="+keyMoscow, "application/json",
		hookFixture(t, callFixtures, "generic/minimal.json"), nil)
	var reply callReply
	if err := json.Unmarshal([]byte(r.body), &reply); err != nil || r.status != 200 || reply.Accepted != 1 ||
		reply.ID != calls.EnvelopeID("acme", "moscow", "generic", "1001", calls.PhaseEnd) {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
