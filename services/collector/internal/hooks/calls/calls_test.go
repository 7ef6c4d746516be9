package calls

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/pkg/vendorsign"
)

const mangoSalt = "mango-salt-0123456789"

var (
	moscow, _ = time.LoadLocation("Europe/Moscow")
	settings  = Settings{Location: moscow, Now: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Secret: mangoSalt}
	// 2026-03-01 10:15:00 Moscow time.
	callStart = time.Date(2026, 3, 1, 7, 15, 0, 0, time.UTC)
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request builds the delivery a fixture stands for: *.query files arrive as a
// GET's query string, *.form and *.txt as a form body, *.json as a JSON body
// (Mango's: signed into a form, as Mango sends it).
func request(t testing.TB, provider, name string) Request {
	t.Helper()
	b := fixture(t, filepath.Join(provider, name))
	switch {
	case strings.HasSuffix(name, ".query"):
		q, err := url.ParseQuery(string(b))
		if err != nil {
			t.Fatal(err)
		}
		return Request{Method: "GET", Query: q}
	case provider == "mango":
		return mangoRequest(string(b), mangoSalt, "")
	case strings.HasSuffix(name, ".json"):
		return Request{Method: "POST", ContentType: "application/json", Body: b}
	default:
		return Request{Method: "POST", ContentType: "application/x-www-form-urlencoded", Body: b}
	}
}

func mangoRequest(jsonText, salt, path string) Request {
	const apiKey = "vpbx-api-key-abc"
	form := url.Values{"vpbx_api_key": {apiKey}, "sign": {vendorsign.Mango(apiKey, jsonText, salt)}, "json": {jsonText}}
	return Request{Method: "POST", ContentType: "application/x-www-form-urlencoded", Body: []byte(form.Encode()), Path: path}
}

func TestFixtures(t *testing.T) {
	cases := []struct {
		provider, file string
		want           Call
	}{
		{"generic", "full.json", Call{
			ID: "pbx-20260301-0042", Phase: PhaseEnd, Start: callStart, Caller: "+79161234567", Tracking: "+74951234567",
			Direction: "in", WaitSec: 12, TalkSec: 95, Answered: true, Recording: "https://pbx.example.ru/rec/0042.mp3",
			ClientID: "tl.8f14e45fceea167a", VendorIDs: []string{"ga:GA1.1.123.456", "ym:1709280000123456789"},
			UTM: event.UTM{Source: "yandex", Medium: "cpc", Campaign: "spring-sale"},
			URL: "https://shop.example.ru/contacts", Referrer: "https://ya.ru/",
			Props: map[string]string{"employee": "101", "queue": "3"},
		}},
		{"generic", "minimal.json", Call{ID: "1001", Phase: PhaseEnd, Start: callStart}},
		{"generic", "strings_for_numbers.json", Call{
			ID: "c-7", Phase: PhaseStart, Start: callStart, Caller: "+79161234567", WaitSec: 8, TalkSec: 40, Answered: true,
		}},
		{"calltouch", "disconnected.query", Call{
			ID: "4471736", Phase: PhaseEnd, Start: callStart, Caller: "+79161234567", Tracking: "+74951234567",
			Direction: "in", WaitSec: 12, TalkSec: 95, Answered: true,
			Recording: "https://api.calltouch.ru/calls-service/RestAPI/123/calls-diary/calls/4471736/download",
			ClientID:  "tl.8f14e45fceea167a",
			VendorIDs: []string{"ct:3302114", "ym:1709280000123456789", "ga:GA1.2.1234.5678"},
			UTM:       event.UTM{Source: "yandex", Medium: "cpc", Campaign: "spring-sale", Term: "купить диван"},
			URL:       "https://shop.example.ru/catalog", Referrer: "https://ya.ru/",
			Props: map[string]string{"ct_session_id": "88123456", "redirect_number": "74997654321", "hostname": "shop.example.ru"},
		}},
		{"calltouch", "connected.form", Call{
			ID: "4471736", Phase: PhaseStart, Start: callStart, Caller: "+79161234567", Tracking: "+74951234567",
			Direction: "in", VendorIDs: []string{"ct:3302114"}, UTM: event.UTM{Source: "google", Medium: "cpc"},
		}},
		{"calltouch", "ugly.query", Call{
			ID: "4471737", Phase: PhaseEnd, Start: callStart.Add(100 * time.Second), Caller: "+79031112233",
			Tracking: "+74951234567", Direction: "in", WaitSec: 31,
		}},
		{"calltouch", "no_callid.query", Call{
			ID: "derived-" + "", Phase: PhaseEnd, Start: callStart, Caller: "+79161234567", Tracking: "+74951234567",
			Direction: "in", TalkSec: 40, Answered: true,
		}},
		{"calltouch", "json_body.json", Call{
			ID: "4471740", Phase: PhaseEnd, Start: callStart, Caller: "+79161234567", Tracking: "+74951234567",
			Direction: "in", WaitSec: 5, TalkSec: 61, Answered: true, ClientID: "tl.abc",
		}},
		{"comagic", "call_end.json", Call{
			ID: "2873611902", Phase: PhaseEnd, Start: callStart, Caller: "+79161234567", Tracking: "+74951234567",
			Direction: "in", WaitSec: 12, TalkSec: 95, Answered: true,
			Recording: "https://app.uiscom.ru/system/media/talk/2873611902/abc/", ClientID: "tl.8f14e45fceea167a",
			VendorIDs: []string{"uis:1290473611", "ym:1709280000123456789"},
			UTM:       event.UTM{Source: "yandex", Medium: "cpc", Campaign: "spring-sale"},
			Props:     map[string]string{"employee_id": "101", "call_source": "va"},
		}},
		{"comagic", "unfilled.json", Call{
			ID: "2873611903", Phase: PhaseEnd, Start: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), Caller: "+79031112233",
			Tracking: "+74951234567", Direction: "in", WaitSec: 40,
		}},
		{"comagic", "form.txt", Call{
			ID: "2873611905", Phase: PhaseEnd, Start: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Caller: "+79035556677",
			Tracking: "+74951234567", Direction: "in", WaitSec: 25,
		}},
		{"mango", "summary.json", Call{
			ID: "MjY4NDM0NzQyNjo0MDE=", Phase: PhaseEnd, Start: callStart, Caller: "+79161234567", Tracking: "+74951234567",
			Direction: "in", WaitSec: 12, TalkSec: 95, Answered: true, Props: map[string]string{"disconnect_reason": "1110"},
		}},
		{"mango", "summary_missed.json", Call{
			ID: "MjY4NDM0NzQyNjo0MDI=", Phase: PhaseEnd, Start: callStart.Add(200 * time.Second), Caller: "+79031112233",
			Tracking: "+74950000000", Direction: "in", WaitSec: 31, Props: map[string]string{"disconnect_reason": "1120"},
		}},
		{"mango", "outgoing.json", Call{
			ID: "MjY4NDM0NzQyNjo0MDU=", Phase: PhaseEnd, Start: callStart.Add(300 * time.Second), Caller: "+79161234567",
			Direction: "out", WaitSec: 10, TalkSec: 90, Answered: true,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.provider+"/"+tc.file, func(t *testing.T) {
			got, err := Parse(tc.provider, request(t, tc.provider, tc.file), settings)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tc.want.ID, "derived-") {
				if !strings.HasPrefix(got.ID, "derived-") || len(got.ID) != len("derived-")+24 {
					t.Fatalf("derived id %q", got.ID)
				}
				tc.want.ID = got.ID
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("\n got %+v\nwant %+v", got, tc.want)
			}
			env := Envelope(got, Meta{Tenant: "acme", Account: "moscow", Provider: tc.provider, ReceivedAt: settings.Now})
			if err := env.Validate(); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(env)
			if _, err := event.Decode(b); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	cases := []struct{ provider, file, field string }{
		{"generic", "missing_call_id.json", "call_id"},
		{"generic", "bad_talk.json", "talk_sec"},
		{"generic", "bad_phone.json", "caller"},
		{"generic", "array.json", "body"},
		{"generic", "two_objects.json", "body"},
		{"generic", "utm_not_object.json", "utm"},
		{"generic", "future.json", "started_at"},
		{"calltouch", "no_callid_no_caller.query", "callId"},
		{"calltouch", "bad_duration.query", "duration"},
		{"calltouch", "bad_timestamp.query", "timestamp"},
		{"comagic", "missing_session.json", "call_session_id"},
		{"comagic", "broken.json", "body"},
		{"mango", "no_create_time.json", "json.create_time"},
	}
	for _, tc := range cases {
		t.Run(tc.provider+"/"+tc.file, func(t *testing.T) {
			_, err := Parse(tc.provider, request(t, tc.provider, tc.file), settings)
			var fe *event.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %v, want a field error on %s", err, tc.field)
			}
		})
	}
}

func TestMangoOnlySummaryMakesACall(t *testing.T) {
	summary := string(fixture(t, "mango/summary.json"))
	state := string(fixture(t, "mango/call_state.json"))
	var ig *Ignored
	// Told by the URL Mango appended to, or by the fields when it appended none.
	for _, r := range []Request{mangoRequest(state, mangoSalt, ""), mangoRequest(state, mangoSalt, "events/call"),
		mangoRequest(summary, mangoSalt, "events/recording"), mangoRequest(string(fixture(t, "mango/internal.json")), mangoSalt, "")} {
		if _, err := Parse("mango", r, settings); !errors.As(err, &ig) {
			t.Fatalf("path %q: got %v, want ignored", r.Path, err)
		}
	}
	if _, err := Parse("mango", mangoRequest(summary, mangoSalt, "/events/summary"), settings); err != nil {
		t.Fatal(err)
	}
}

func TestMangoSignature(t *testing.T) {
	summary := string(fixture(t, "mango/summary.json"))
	wrongSalt := mangoRequest(summary, "another-salt", "")
	tampered := mangoRequest(summary, mangoSalt, "")
	form, _ := url.ParseQuery(string(tampered.Body))
	form.Set("json", strings.Replace(summary, `"talk_time":1772349312`, `"talk_time":1772349302`, 1))
	tampered.Body = []byte(form.Encode())
	unsigned := mangoRequest(summary, mangoSalt, "")
	form, _ = url.ParseQuery(string(unsigned.Body))
	form.Del("sign")
	unsigned.Body = []byte(form.Encode())
	for name, r := range map[string]Request{"wrong salt": wrongSalt, "tampered json": tampered, "no sign": unsigned} {
		if _, err := Parse("mango", r, settings); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: got %v, want a signature error", name, err)
		}
	}
	noSecret := settings
	noSecret.Secret = ""
	if _, err := Parse("mango", mangoRequest(summary, "", ""), noSecret); !errors.Is(err, ErrSignature) {
		t.Errorf("an account without a secret verified a signature: %v", err)
	}
	// Upper-case hex is the same signature.
	r := mangoRequest(summary, mangoSalt, "")
	form, _ = url.ParseQuery(string(r.Body))
	form.Set("sign", strings.ToUpper(form.Get("sign")))
	r.Body = []byte(form.Encode())
	if _, err := Parse("mango", r, settings); err != nil {
		t.Fatalf("upper-case signature: %v", err)
	}
}

func TestDuplicateDeliveriesShareTheEnvelopeID(t *testing.T) {
	meta := Meta{Tenant: "acme", Account: "moscow", Provider: "calltouch", ReceivedAt: settings.Now}
	var ids []string
	for range 2 {
		c, err := Parse("calltouch", request(t, "calltouch", "disconnected.query"), settings)
		if err != nil {
			t.Fatal(err)
		}
		meta.ReceivedAt = meta.ReceivedAt.Add(time.Minute) // a retry arrives later
		ids = append(ids, Envelope(c, meta).ID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("a repeated delivery got a new id: %v", ids)
	}
	start, err := Parse("calltouch", request(t, "calltouch", "connected.form"), settings)
	if err != nil {
		t.Fatal(err)
	}
	startID := Envelope(start, meta).ID
	if startID == ids[0] || startID >= ids[0] {
		t.Fatalf("the start phase must have its own id, sorting before the end's: %s vs %s", startID, ids[0])
	}
	// The same vendor call id in another account is another call.
	other := meta
	other.Account = "spb"
	if Envelope(start, other).ID == startID {
		t.Fatal("two accounts share a call's envelope id")
	}
	// A derived id (no callId ticked) is stable too.
	a, _ := Parse("calltouch", request(t, "calltouch", "no_callid.query"), settings)
	b, _ := Parse("calltouch", request(t, "calltouch", "no_callid.query"), settings)
	if a.ID != b.ID {
		t.Fatal("derived call ids differ between deliveries")
	}
}

func TestStaticNumberWithoutClientID(t *testing.T) {
	c, err := Parse("generic", request(t, "generic", "static_number.json"), settings)
	if err != nil {
		t.Fatal(err)
	}
	static := map[string]tenants.StaticNumber{
		"+74950000000": {Channel: "offline", Source: "billboard", Medium: "outdoor", Campaign: "metro-2026"},
	}
	e := Envelope(c, Meta{Tenant: "acme", Account: "moscow", Provider: "generic", ReceivedAt: settings.Now, Static: static})
	if e.Call.Channel != "offline" || e.UTM != (event.UTM{Source: "billboard", Medium: "outdoor", Campaign: "metro-2026"}) {
		t.Fatalf("static number not mapped: channel %q utm %+v", e.Call.Channel, e.UTM)
	}
	// With our client id the visitor's session decides, not the number.
	c.ClientID = "tl.1"
	e = Envelope(c, Meta{Tenant: "acme", Account: "moscow", Provider: "generic", ReceivedAt: settings.Now, Static: static})
	if e.Call.Channel != "" || e.UTM != (event.UTM{}) || e.ClientID != "tl.1" || e.Call.ClientIDs[0] != "tl.1" {
		t.Fatalf("a call with a client id took the static number's channel: %+v", e)
	}
}

func TestEnvelopeFields(t *testing.T) {
	c, err := Parse("calltouch", request(t, "calltouch", "disconnected.query"), settings)
	if err != nil {
		t.Fatal(err)
	}
	e := Envelope(c, Meta{Tenant: "acme", Account: "moscow", Provider: "calltouch", ReceivedAt: settings.Now})
	if e.Type != event.TypeCall || e.Source != "hook:calltouch" || e.TS != callStart.UnixMilli() ||
		e.ReceivedAt != settings.Now.UnixMilli() || e.Name != PhaseEnd || e.Key() == nil {
		t.Fatalf("envelope: %+v", e)
	}
	// gcid comes as the whole _ga cookie: it is cut to the client id the
	// tracker sends, so the call meets the visitor's hits.
	want := []string{"tl.8f14e45fceea167a", "ct:3302114", "ym:1709280000123456789", "ga:1234.5678"}
	if !reflect.DeepEqual(e.Call.ClientIDs, want) || e.ClientID != want[0] {
		t.Fatalf("client ids %v", e.Call.ClientIDs)
	}
	if e.Call.CallID != "4471736" || e.Call.Provider != "calltouch" {
		t.Fatalf("call: %+v", e.Call)
	}
}

func TestUnknownProvider(t *testing.T) {
	if _, err := Parse("sipuni", Request{}, settings); err == nil {
		t.Fatal("an unknown provider parsed")
	}
	if Known("sipuni") || !Known("mango") || !Known("alloka") || !Known("callibri") {
		t.Fatal("Known")
	}
}
