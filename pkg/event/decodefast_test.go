package event

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleEnvelope is a realistic pageview: URL with UTM tags, a click id, a
// referrer, a user agent and properties.
func sampleEnvelope(i int) Envelope {
	ts := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli() + int64(i)*37
	return Envelope{
		V: Version, ID: fmt.Sprintf("01J%023d", i), Tenant: "franchise-1", Account: fmt.Sprintf("branch-%d", i%40),
		Type: TypePageview, Source: "pixel", TS: ts, ReceivedAt: ts + 120,
		ClientID: fmt.Sprintf("cid.%d.%d", i%5000, 1700000000+i%5000),
		URL:      fmt.Sprintf("https://branch-%d.example.ru/catalog/item-%d?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=%d", i%40, i%300, 7000000+i),
		Referrer: "https://yandex.ru/search/?text=pizza+delivery",
		UTM:      UTM{Source: "yandex", Medium: "cpc", Campaign: "spring_sale"},
		ClickIDs: map[string]string{"yclid": fmt.Sprint(7000000 + i)},
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " +
			"Chrome/124.0.0.0 Safari/537.36",
		IP:    fmt.Sprintf("203.0.113.%d", i%250),
		Props: map[string]string{"screen": "1920x1080", "lang": "ru-RU"},
	}
}

// sampleCall is a call as a call tracker's webhook gives it.
func sampleCall(i int) Envelope {
	e := sampleEnvelope(i)
	e.Type, e.URL, e.Referrer, e.UTM, e.ClickIDs, e.Props = TypeCall, "", "", UTM{}, nil, nil
	e.Call = &Call{CallID: fmt.Sprint("ct-", i), Provider: "calltouch", CallerPhone: "+79161234567",
		TrackingNumber: "+74951234567", Direction: "in", WaitSec: 7, TalkSec: 95, Answered: true,
		RecordingURL: "https://rec.example/1.mp3", ClientIDs: []string{"cid.1.2", "cid.3.4"}}
	return e
}

// sampleCRM is a CRM deal change.
func sampleCRM(i int) Envelope {
	e := sampleCall(i)
	e.Type, e.Call = TypeCRM, nil
	e.CRM = &CRM{Provider: "amocrm", Entity: "deal", Action: "status", LeadID: "L1", DealID: fmt.Sprint(i), ContactID: "C1",
		Pipeline: "main", Stage: "142", Outcome: "won", Amount: 1500000, Currency: "RUB", Phones: []string{"+79161234567"},
		Emails: []string{"a@b.ru"}, ClientID: "cid.1.2", CallID: "ct-1", UpdatedAt: e.TS - 5}
	return e
}

// decodeSeeds are envelopes as the collector writes them and inputs that
// probe where the fast path must hand over to encoding/json. The fuzzer's
// own finds live in testdata/fuzz/FuzzDecodeFast.
func decodeSeeds() [][]byte {
	full, _ := json.Marshal(sampleEnvelope(7))
	odd := sampleEnvelope(8)
	odd.URL = "https://x.ru/?a=1&b=<2>\u2028"
	odd.Props = map[string]string{"ключ": "значение", "q\"uote": "back\\slash\t", "": ""}
	oddJSON, _ := json.Marshal(odd)
	callJSON, _ := json.Marshal(sampleCall(1))
	crmJSON, _ := json.Marshal(sampleCRM(2))
	seeds := [][]byte{full, oddJSON, callJSON, crmJSON}
	for _, s := range []string{
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"pageview"}`,
		` {"v":1 , "id" : "a","tenant":"t","account":"a","type":"x","ts":-5,"received_at":0} `,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","Tenant":"T"}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","ſource":"s"}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","utm":{"Source":"s","x":[1,{"y":null}]}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","utm":null,"click_ids":null,"props":{}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","props":{"a":"1"},"props":{"b":"2"}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","props":{"a":null}}`,
		`{"v":1.0,"id":"a","tenant":"t","account":"a","type":"x"}`,
		`{"v":1e0,"id":"a","tenant":"t","account":"a","type":"x"}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","ts":9223372036854775808}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","ts":-9223372036854775808}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","ts":01}`,
		`{"v":1,"id":"\ud83d\ude00","tenant":"t","account":"a","type":"x"}`,
		`{"v":1,"id":"\ud83d","tenant":"t","account":"a","type":"x"}`,
		"{\"v\":1,\"id\":\"\xff\",\"tenant\":\"t\",\"account\":\"a\",\"type\":\"x\"}",
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x"} x`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x",}`,
		`{"v":"1","id":"a","tenant":"t","account":"a","type":"x"}`,
		`{"v":2,"id":"a","tenant":"t","account":"a","type":"x"}`,
		`{"v":1,"id":null,"tenant":"t","account":"a","type":"x"}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"x","extra":[true,false,null,-0.5e+3,"\u0041"]}`,
		`{"\u0076":1,"id":"a","tenant":"t","account":"a","type":"x"}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"form","phone":"+79161234567","email":"a@b.ru"}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"call_id":"c1","answered":true,"talk_sec":42}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"crm","CRM":{"deal_id":"d","amount_minor":100}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":null}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"call_id":"c1"},"call":{"talk_sec":5}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"call_id":"c1"},"call":null}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"client_ids":[],"answered":null,"wait_sec":null}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"client_ids":["a",null]}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"client_ids":null,"answered":1}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"Call_ID":"x","extra":{"a":[1]}}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"answered":truex}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"talk_sec":1.5}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":{"talk_sec":99999999999999999999}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"call","call":[]}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"crm","crm":{"phones":["+7916"],"phones":["+7925","+7926"],"emails":[]}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"crm","crm":{"amount_minor":-5,"updated_at":null,"emails":"x"}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"crm","crm":{"ſtage":"s"}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"cost","cost":{"date":"2026-03-01","amount_minor":1}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"number_lease","client_id":"c","lease":{"number":"+74951110001","from":1,"to":2,"shared":true}}`,
		`{"v":1,"id":"a","tenant":"t","account":"a","type":"number_lease","Lease":{"number":"+7","from":"x"}}`,
		`null`, `[]`, `{`, ``,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// FuzzDecodeFast checks the fast decoder against Decode: the same
// envelope, or the same error.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := DecodeFast(b)
		want, werr := Decode(b)
		if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("input %q: fast error %v, encoding/json error %v", b, gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("input %q:\nfast %+v\njson %+v", b, got, want)
		}
		// DecodeView reads the same, its strings views of its own copy.
		view := append([]byte(nil), b...)
		var v Envelope
		verr := DecodeView(view, &v)
		if (verr == nil) != (werr == nil) || verr != nil && verr.Error() != werr.Error() {
			t.Fatalf("input %q: view error %v, encoding/json error %v", b, verr, werr)
		}
		if verr == nil && !reflect.DeepEqual(v, want) {
			t.Fatalf("input %q:\nview %+v\njson %+v", b, v, want)
		}
		// And into an envelope whose maps it reuses: the same, but for an
		// empty map where Decode leaves none.
		r := Envelope{ClickIDs: map[string]string{"gclid": "old"}, Props: map[string]string{"old": "1"}}
		rerr := DecodeView(view, &r)
		if (rerr == nil) != (werr == nil) {
			t.Fatalf("input %q: reused view error %v, encoding/json error %v", b, rerr, werr)
		}
		if rerr == nil {
			if len(r.ClickIDs) == 0 && want.ClickIDs == nil {
				r.ClickIDs = nil
			}
			if len(r.Props) == 0 && want.Props == nil {
				r.Props = nil
			}
			if !reflect.DeepEqual(r, want) {
				t.Fatalf("input %q:\nreused view %+v\njson %+v", b, r, want)
			}
		}
	})
}

func TestDecodeFastTakesTheFastPath(t *testing.T) {
	for _, env := range []Envelope{sampleEnvelope(3), sampleCall(4), sampleCRM(5)} {
		full, _ := json.Marshal(env)
		var e Envelope
		if s := (scanner{b: string(full)}); !s.envelope(&e) {
			t.Fatalf("the fast path gave up on an ordinary envelope: %s", full)
		}
		if !reflect.DeepEqual(e, env) {
			t.Fatalf("fast path read %+v, want %+v", e, env)
		}
	}
}

func BenchmarkDecodeFast(b *testing.B) {
	v, _ := json.Marshal(sampleEnvelope(11))
	for _, c := range []struct {
		name string
		fn   func([]byte) (Envelope, error)
	}{{"fast", DecodeFast}, {"encoding-json", Decode}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(v)))
			for b.Loop() {
				if _, err := c.fn(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecoderKnowsEveryEnvelopeField fails when Envelope gains a field
// the fast path would skip: teach decode.go to read it, or list it in
// slowFields.
func TestDecoderKnowsEveryEnvelopeField(t *testing.T) {
	known := map[string]bool{}
	for _, f := range append(append([]string{}, envelopeFields...), slowFields...) {
		known[f] = true
	}
	check := func(typ reflect.Type, known map[string]bool) {
		for i := 0; i < typ.NumField(); i++ {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if !known[name] {
				t.Errorf("%s field %s (json %q) is unknown to the fast decoder", typ.Name(), typ.Field(i).Name, name)
			}
		}
	}
	check(reflect.TypeFor[Envelope](), known)
	for _, c := range []struct {
		typ    reflect.Type
		fields []string
	}{{reflect.TypeFor[Call](), callFields}, {reflect.TypeFor[CRM](), crmFields}} {
		m := map[string]bool{}
		for _, f := range c.fields {
			m[f] = true
		}
		check(c.typ, m)
	}
	utm := map[string]bool{}
	for _, f := range utmFields {
		utm[f] = true
	}
	check(reflect.TypeFor[UTM](), utm)
}

func TestDecodeFastWebAnalyticsIDs(t *testing.T) {
	b := []byte(`{"v":1,"id":"e1","tenant":"t","account":"a","type":"pageview","ts":1,"client_id":"c","ym_client_id":"1700000000123456789","ga_client_id":"1234567890.1700000000"}`)
	e, err := DecodeFast(b)
	if err != nil || e.YMClientID != "1700000000123456789" || e.GAClientID != "1234567890.1700000000" {
		t.Fatalf("%+v %v", e, err)
	}
}
