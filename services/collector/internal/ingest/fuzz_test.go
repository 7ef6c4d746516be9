package ingest

import (
	"net/url"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

// FuzzPixel: any query string gives either a valid envelope of the key's
// account or a field error, and the dead-letter payload never keeps a key.
func FuzzPixel(f *testing.F) {
	f.Add("k=key&u=https%3A%2F%2Fa.example%2F%3Futm_source%3Dx%26gclid%3DG&cid=c1")
	f.Add("t=goal&n=signup&ts=1759999999000&p.plan=pro&yclid=Y")
	f.Add("ts=-1&t=%ZZ&k=1;k=2")
	f.Fuzz(func(t *testing.T, q string) {
		m := testMeta()
		e, err := Pixel(q, m)
		if err != nil {
			if _, ok := err.(*event.FieldError); !ok {
				t.Fatalf("error is not a field error: %T %v", err, err)
			}
		} else {
			checkEnvelope(t, &e, m)
		}
		if v, err := url.ParseQuery(StripKey(q)); err == nil && v.Has(ParamKey) {
			t.Fatalf("StripKey(%q) kept the key", q)
		}
	})
}

// FuzzEvents: any body gives either valid envelopes of the key's account or
// a field error, never a panic.
func FuzzEvents(f *testing.F) {
	f.Add([]byte(`[{"type":"pageview","ts":1759999999000,"url":"https://a.example/?gclid=1"}]`))
	f.Add([]byte("{\"type\":\"goal\",\"name\":\"x\",\"ts\":1759999999000,\"props\":{\"a\":1}}\n{\"type\":\"pageview\",\"ts\":1759999999001}"))
	f.Add([]byte(`[{"type":"pageview","ts":1759999999000,"account":"other"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m := testMeta()
		envs, err := Batch(body, m, 50)
		if err != nil {
			if _, ok := err.(*event.FieldError); !ok {
				t.Fatalf("error is not a field error: %T %v", err, err)
			}
			if envs != nil {
				t.Fatal("envelopes returned with an error")
			}
			return
		}
		if len(envs) == 0 || len(envs) > 50 {
			t.Fatalf("%d envelopes accepted", len(envs))
		}
		for i := range envs {
			checkEnvelope(t, &envs[i], m)
		}
	})
}
