package calls

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

// unsigned are the settings of an account whose Alloka or Callibri entry
// sets no secret.
var unsigned = Settings{Location: moscow, Now: settings.Now}

func TestAllokaCallibriFixtures(t *testing.T) {
	cases := []struct {
		provider, file string
		want           Call
	}{
		{"alloka", "call_end.json", Call{
			ID: "alk-90211", Phase: PhaseEnd, Start: callStart, Caller: "+79161234567", Tracking: "+74957770011",
			Direction: "in", WaitSec: 7, TalkSec: 95, Answered: true, Recording: "https://records.alloka.ru/alk-90211.mp3",
			ClientID: "tl.8f14e45fceea167a", VendorIDs: []string{"alloka:a-55102", "ym:1772000000123456789"},
			UTM: event.UTM{Source: "yandex", Medium: "cpc", Campaign: "glass_msk"},
			URL: "https://dealer.example.ru/zamena?utm_source=yandex", Props: map[string]string{"alloka_site": "dealer.example.ru"}}},
		// A form whose placeholders were left unfilled: no UTM, no client id.
		{"alloka", "start.form", Call{
			ID: "alk-90212", Phase: PhaseStart, Start: time.Unix(1772359200, 0).UTC(), Caller: "+79161112233",
			Tracking: "+74957770011", Direction: "in"}},
		// Nested under "data", a numeric id, the client id inside custom params.
		{"alloka", "nested_missed.json", Call{
			ID: "90213", Phase: PhaseEnd, Start: time.Date(2026, 3, 1, 7, 20, 0, 0, time.UTC), Caller: "+79160000000",
			Tracking: "+74957770011", Direction: "in", ClientID: "tl.c9f0f895fb98ab91"}},
		{"callibri", "call.json", Call{
			ID: "3341907", Phase: PhaseEnd, Start: time.Date(2026, 3, 1, 10, 2, 11, 0, time.UTC), Caller: "+79161234567",
			Tracking: "+74951230000", Direction: "in", WaitSec: 5, TalkSec: 64, Answered: true,
			Recording: "https://callibri.ru/rec/3341907.mp3", ClientID: "tl.8f14e45fceea167a",
			VendorIDs: []string{"cb:cb-7781", "ym:1771000000987654321"},
			UTM:       event.UTM{Source: "google", Medium: "cpc", Campaign: "brand"}, URL: "https://dealer.example.ru/",
			Props: map[string]string{"callibri_channel": "Google Ads"}}},
		// GET, Russian date, a missed call in Russian.
		{"callibri", "missed.query", Call{
			ID: "3341908", Phase: PhaseEnd, Start: time.Date(2026, 3, 1, 10, 10, 0, 0, time.UTC), Caller: "+79167654321",
			Tracking: "+74951230000", Direction: "in", Props: map[string]string{"callibri_channel": "Яндекс.Директ"}}},
		// Wrong types and junk: an unknown status leaves "talked, so answered".
		{"callibri", "ugly.json", Call{
			ID: "cb-1", Phase: PhaseEnd, Start: time.UnixMilli(1772370000000).UTC(), Direction: "in", TalkSec: 13, Answered: true}},
	}
	for _, c := range cases {
		got, err := Parse(c.provider, request(t, c.provider, c.file), unsigned)
		if err != nil {
			t.Fatalf("%s/%s: %v", c.provider, c.file, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%s/%s:\n got %+v\nwant %+v", c.provider, c.file, got, c.want)
		}
	}
}

func TestAllokaCallibriRefused(t *testing.T) {
	for _, c := range []struct{ provider, file, field string }{
		{"alloka", "no_id.json", "call_id"}, {"alloka", "bad_duration.json", "talk_time"},
		{"alloka", "broken.json", "body"}, {"callibri", "future.json", "date"},
	} {
		_, err := Parse(c.provider, request(t, c.provider, c.file), unsigned)
		var fe *event.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Fatalf("%s/%s: %v, want a field error on %s", c.provider, c.file, err, c.field)
		}
	}
}

// TestTrackedToken: with a secret set, the delivery must carry it as the
// token; neither vendor signs, so the URL's secret is the check.
func TestTrackedToken(t *testing.T) {
	s := unsigned
	s.Secret = "s3cret-token"
	for _, provider := range []string{"alloka", "callibri"} {
		file := map[string]string{"alloka": "call_end.json", "callibri": "call.json"}[provider]
		r := request(t, provider, file)
		for _, tok := range []string{"", "wrong", "s3cret-token "} {
			r.Token = tok
			if _, err := Parse(provider, r, s); !errors.Is(err, ErrSignature) {
				t.Fatalf("%s with token %q: %v", provider, tok, err)
			}
		}
		r.Token = "s3cret-token"
		if _, err := Parse(provider, r, s); err != nil {
			t.Fatalf("%s with the token: %v", provider, err)
		}
	}
}

func FuzzAlloka(f *testing.F) {
	addFixtures(f, "alloka", func(b []byte) {
		f.Add(string(b), []byte(nil))
		f.Add("", b)
	})
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		q, _ := url.ParseQuery(query)
		c, err := Parse("alloka", Request{Method: "POST", Query: q, Body: body}, unsigned)
		checkParsed(t, "alloka", c, err)
	})
}

func FuzzCallibri(f *testing.F) {
	addFixtures(f, "callibri", func(b []byte) {
		f.Add(string(b), []byte(nil))
		f.Add("", b)
	})
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		q, _ := url.ParseQuery(query)
		c, err := Parse("callibri", Request{Method: "POST", Query: q, Body: body}, unsigned)
		checkParsed(t, "callibri", c, err)
	})
}
