package ingest

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
)

var testNow = time.UnixMilli(1_760_000_000_000).UTC()

func testMeta() Meta {
	return Meta{
		Principal: tenants.Principal{Tenant: "acme", Account: "moscow"},
		Now:       testNow, UserAgent: "Mozilla/5.0", IP: "203.0.113.9",
		Referer: "https://shop.example/landing?utm_source=ref&gclid=G1",
	}
}

func TestPixelFromURL(t *testing.T) {
	page := "https://shop.example/p?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=Y123&x=1"
	q := url.Values{"k": {"secret-key"}, "cid": {"c-1"}, "u": {page}, "r": {"https://ya.ru/"},
		"p.color": {"red"}, "utm_source": {"direct-wins"}}
	e, err := Pixel(q.Encode(), testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != event.TypePageview || e.Source != "pixel" || e.Tenant != "acme" || e.Account != "moscow" {
		t.Fatalf("envelope header: %+v", e)
	}
	if e.UTM.Source != "direct-wins" || e.UTM.Medium != "cpc" || e.UTM.Campaign != "spring" {
		t.Fatalf("utm: %+v", e.UTM)
	}
	if e.ClickIDs["yclid"] != "Y123" || len(e.ClickIDs) != 1 {
		t.Fatalf("click ids: %v", e.ClickIDs)
	}
	if e.ClientID != "c-1" || e.URL != page || e.Referrer != "https://ya.ru/" || e.Props["color"] != "red" {
		t.Fatalf("fields: %+v", e)
	}
	if e.TS != testNow.UnixMilli() || e.ReceivedAt != testNow.UnixMilli() || e.IP != "203.0.113.9" {
		t.Fatalf("times/ip: %+v", e)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(e.ID) {
		t.Fatalf("generated id %q is not a UUIDv7", e.ID)
	}
}

func TestPixelDefaultsToReferer(t *testing.T) {
	e, err := Pixel("k=x&t=goal&n=signup&ts=1759999999000&eid=e-1", testMeta())
	if err != nil {
		t.Fatal(err)
	}
	if e.URL != testMeta().Referer || e.UTM.Source != "ref" || e.ClickIDs["gclid"] != "G1" {
		t.Fatalf("referer defaults: %+v", e)
	}
	if e.Type != "goal" || e.Name != "signup" || e.TS != 1759999999000 || e.ID != "e-1" {
		t.Fatalf("fields: %+v", e)
	}
}

func TestPixelErrors(t *testing.T) {
	cases := map[string]string{
		"ts=abc":                             "ts",
		"ts=1700000000":                      "ts",
		"ts=99999999999999":                  "ts",
		"t=Page%20View":                      "t",
		"t=goal":                             "n",
		"p.=x":                               "p.",
		"cid=" + strings.Repeat("x", 600):    "cid",
		"eid=" + strings.Repeat("x", 600):    "eid",
		"gclid=" + strings.Repeat("x", 600):  "gclid",
		"p.big=" + strings.Repeat("x", 3000): "p.big",
	}
	for q, field := range cases {
		_, err := Pixel(q, testMeta())
		fe, ok := err.(*event.FieldError)
		if !ok || fe.Field != field {
			t.Errorf("Pixel(%.40q) = %v, want field %q", q, err, field)
		}
	}
}

func TestStripKey(t *testing.T) {
	cases := map[string]string{
		"k=secret&u=x":          "u=x",
		"u=x&k=secret":          "u=x",
		"%6B=secret&u=x&k=2":    "u=x",
		"u=a%26k%3Dnot-key&t=g": "u=a%26k%3Dnot-key&t=g",
		"k":                     "",
		"kk=1&k=":               "kk=1",
	}
	for in, want := range cases {
		if got := StripKey(in); got != want {
			t.Errorf("StripKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBatchFormats(t *testing.T) {
	array := `[{"type":"pageview","ts":1759999999000,"client_id":"c1","url":"https://a.example/?utm_source=g&gclid=X"},
	 {"id":"e2","type":"goal","name":"lead","ts":1759999999001,"utm":{"source":"yandex"},"click_ids":{"yclid":"Y"},"props":{"n":3,"ok":true,"s":"v","z":null}}]`
	ndjson := "{\"type\":\"pageview\",\"ts\":1759999999000,\"client_id\":\"c1\",\"url\":\"https://a.example/?utm_source=g&gclid=X\"}\n\n" +
		"{\"id\":\"e2\",\"type\":\"goal\",\"name\":\"lead\",\"ts\":1759999999001,\"utm\":{\"source\":\"yandex\"},\"click_ids\":{\"yclid\":\"Y\"},\"props\":{\"n\":3,\"ok\":true,\"s\":\"v\",\"z\":null}}\n"
	for name, body := range map[string]string{"array": array, "ndjson": ndjson} {
		envs, err := Batch([]byte(body), testMeta(), 10)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(envs) != 2 {
			t.Fatalf("%s: %d envelopes", name, len(envs))
		}
		a, b := envs[0], envs[1]
		if a.UTM.Source != "g" || a.ClickIDs["gclid"] != "X" || a.Source != "api" || !strings.HasPrefix(a.ID, "c-") {
			t.Fatalf("%s: first %+v", name, a)
		}
		if b.ID != "e2" || b.Name != "lead" || b.Props["n"] != "3" || b.Props["ok"] != "true" || len(b.Props) != 3 {
			t.Fatalf("%s: second %+v", name, b)
		}
		if a.IP != "203.0.113.9" || a.UserAgent != "Mozilla/5.0" {
			t.Fatalf("%s: request ip/ua not used: %+v", name, a)
		}
	}
	// The derived id is stable across retries, so retries do not duplicate.
	e1, _ := Batch([]byte(array), testMeta(), 10)
	m := testMeta()
	m.Now = m.Now.Add(time.Minute)
	m.IP = "198.51.100.1"
	e2, _ := Batch([]byte(array), m, 10)
	if e1[0].ID != e2[0].ID {
		t.Fatalf("content id not stable: %s vs %s", e1[0].ID, e2[0].ID)
	}
	other := testMeta()
	other.Principal.Account = "spb"
	e3, _ := Batch([]byte(array), other, 10)
	if e3[0].ID == e1[0].ID {
		t.Fatal("content id ignores the account")
	}
}

func TestBatchErrors(t *testing.T) {
	ok := `{"type":"pageview","ts":1759999999000}`
	cases := []struct{ body, field string }{
		{``, "body"},
		{`"x"`, "body"},
		{`[` + ok + `,` + ok + `,` + ok + `,{"type":"pageview"}]`, "events[3].ts"},
		{`[{"type":"pageview","ts":"soon"}]`, "events[0].ts"},
		{`[{"type":"pageview","ts":1.5e12}]`, "events[0].ts"},
		{`[{"ts":1759999999000}]`, "events[0].type"},
		{`[{"type":"goal","ts":1759999999000}]`, "events[0].name"},
		{`[{"type":"pageview","ts":1759999999000,"account":"other"}]`, "events[0].account"},
		{`[{"type":"pageview","ts":1759999999000,"tenant":"other"}]`, "events[0].tenant"},
		{`[{"type":"pageview","ts":1759999999000,"timestamp":1}]`, "events[0].timestamp"},
		{`[{"type":"pageview","ts":1759999999000,"utm":{"source":1}}]`, "events[0].utm.source"},
		{`[{"type":"pageview","ts":1759999999000,"utm":{"source":"` + strings.Repeat("x", 600) + `"}}]`, "events[0].utm.source"},
		{`[{"type":"pageview","ts":1759999999000,"props":{"a":{}}}]`, "events[0].props.a"},
		{`[{"type":"pageview","ts":1759999999000,"ip":"1.2.3"}]`, "events[0].ip"},
		{`[` + ok + `,{"type":`, "events[1]"},
		{`[` + ok, "body"},
		{`[` + ok + `] x`, "body"},
		{ok + "\n[1]", "events[1]"},
		{`[]`, "events"},
		{`[` + ok + `,` + ok + `,` + ok + `]`, "events"}, // over the limit of 2
	}
	for _, c := range cases {
		_, err := Batch([]byte(c.body), testMeta(), 2+boolInt(c.field != "events"))
		fe, isFE := err.(*event.FieldError)
		if !isFE || fe.Field != c.field {
			t.Errorf("Batch(%.60q) = %v, want field %q", c.body, err, c.field)
		}
	}
	_, err := Batch([]byte(`[`+ok+`,`+ok+`,`+ok+`,{"type":"pageview"}]`), testMeta(), 10)
	if err.Error() != "events[3].ts: required, Unix milliseconds" {
		t.Fatalf("message: %v", err)
	}
}

func boolInt(b bool) int {
	if b {
		return 8
	}
	return 0
}

// checkEnvelope is the invariant every accepted envelope must satisfy: it
// validates, it survives the wire, and it belongs to the key's account.
func checkEnvelope(t *testing.T, e *event.Envelope, m Meta) {
	t.Helper()
	if err := e.Validate(); err != nil {
		t.Fatalf("accepted envelope does not validate: %v", err)
	}
	if e.Tenant != m.Principal.Tenant || e.Account != m.Principal.Account {
		t.Fatalf("envelope of %s/%s from a key of %s/%s", e.Tenant, e.Account, m.Principal.Tenant, m.Principal.Account)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	d, err := event.Decode(b)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("decoded envelope does not validate: %v", err)
	}
}
