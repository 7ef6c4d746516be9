package calls

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

// checkParsed holds for every delivery: no panic, and what is accepted is a
// well-formed call whose envelope survives the raw topic's encoding.
func checkParsed(t *testing.T, provider string, c Call, err error) {
	t.Helper()
	if err != nil {
		var (
			fe *event.FieldError
			ig *Ignored
		)
		if !errors.As(err, &fe) && !errors.As(err, &ig) && !errors.Is(err, ErrSignature) {
			t.Fatalf("error of an unexpected kind: %v", err)
		}
		return
	}
	if c.ID == "" || len(c.ID) > 256 || phaseRank[c.Phase] == 0 || c.Start.IsZero() {
		t.Fatalf("accepted a malformed call: %+v", c)
	}
	if c.WaitSec < 0 || c.TalkSec < 0 || c.WaitSec > maxDuration || c.TalkSec > maxDuration {
		t.Fatalf("durations out of range: %+v", c)
	}
	e := Envelope(c, Meta{Tenant: "acme", Account: "moscow", Provider: provider, ReceivedAt: settings.Now})
	if verr := e.Validate(); verr != nil {
		var fe *event.FieldError
		if !errors.As(verr, &fe) {
			t.Fatalf("validation failed without naming a field: %v", verr)
		}
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := event.Decode(b); err != nil {
		t.Fatalf("envelope does not decode: %v", err)
	}
}

func addFixtures(f *testing.F, dir string, add func(b []byte)) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

func FuzzGeneric(f *testing.F) {
	addFixtures(f, "generic", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := Parse("generic", Request{Method: "POST", Body: body}, settings)
		checkParsed(t, "generic", c, err)
	})
}

func FuzzCalltouch(f *testing.F) {
	addFixtures(f, "calltouch", func(b []byte) {
		f.Add(string(b), []byte(nil))
		f.Add("", b)
	})
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		q, _ := url.ParseQuery(query)
		c, err := Parse("calltouch", Request{Method: "POST", Query: q, Body: body}, settings)
		checkParsed(t, "calltouch", c, err)
	})
}

func FuzzComagic(f *testing.F) {
	addFixtures(f, "comagic", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := Parse("comagic", Request{Method: "POST", Body: body}, settings)
		checkParsed(t, "comagic", c, err)
	})
}

// FuzzMango signs what the fuzzer writes when sign is set, so the parser
// behind the signature check is fuzzed too, not only the check.
func FuzzMango(f *testing.F) {
	addFixtures(f, "mango", func(b []byte) {
		f.Add(string(b), true, "")
		f.Add(string(b), true, "events/summary")
		f.Add(string(b), false, "")
	})
	f.Fuzz(func(t *testing.T, jsonText string, sign bool, path string) {
		r := Request{Method: "POST", Body: []byte(jsonText), Path: path}
		if sign {
			r = mangoRequest(jsonText, mangoSalt, path)
		}
		c, err := Parse("mango", r, settings)
		if !sign && err == nil {
			t.Fatal("an unsigned body was accepted")
		}
		checkParsed(t, "mango", c, err)
	})
}
