package ingest

import (
	"net/url"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

// The tracker sends the _ym_uid and _ga cookies' ids as ym= and ga=; the
// pixel keeps valid ones (the whole _ga cookie is cut to its client id)
// and drops a mangled one without losing the hit.
func TestPixelWebAnalyticsIDs(t *testing.T) {
	for _, c := range []struct{ ym, ga, wantYM, wantGA string }{
		{"1700000000123456789", "1234567890.1700000000", "1700000000123456789", "1234567890.1700000000"},
		{"", "GA1.2.1234567890.1700000000", "", "1234567890.1700000000"},
		{"17000000%3Cscript%3E", "GA1.2.x.y", "", ""},
	} {
		q := url.Values{"k": {"key"}, "cid": {"c-1"}, "u": {"https://shop.example/"}, "ym": {c.ym}, "ga": {c.ga}}
		e, err := Pixel(q.Encode(), testMeta())
		if err != nil || e.YMClientID != c.wantYM || e.GAClientID != c.wantGA {
			t.Fatalf("%+v: ym %q ga %q, %v", c, e.YMClientID, e.GAClientID, err)
		}
	}
}

// The events API takes them as ym_client_id and ga_client_id; there a value
// that is not one is the sender's to fix: the batch is refused naming it.
func TestBatchWebAnalyticsIDs(t *testing.T) {
	envs, err := Batch([]byte(`[{"type":"pageview","ts":1760000000000,"client_id":"c-1","ym_client_id":" 1700000000123456789","ga_client_id":"GA1.1.42.1700000000"}]`), testMeta(), 10)
	if err != nil || envs[0].YMClientID != "1700000000123456789" || envs[0].GAClientID != "42.1700000000" {
		t.Fatalf("%+v %v", envs, err)
	}
	for body, field := range map[string]string{
		`{"type":"pageview","ts":1760000000000,"ym_client_id":"abc"}`:     "events[0].ym_client_id",
		`{"type":"pageview","ts":1760000000000,"ga_client_id":"GA1.2.3"}`: "events[0].ga_client_id",
	} {
		_, err := Batch([]byte(body), testMeta(), 10)
		if fe, ok := err.(*event.FieldError); !ok || fe.Field != field {
			t.Errorf("%s: %v, want a %s error", body, err, field)
		}
	}
}
