package chats

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

// checkParsed holds for every delivery: no panic, errors are field errors
// or ignores, and what is accepted is a chat that can be linked and whose
// envelope validates and survives the raw topic's encoding.
func checkParsed(t *testing.T, provider string, c Chat, err error) {
	t.Helper()
	if err != nil {
		var fe *event.FieldError
		if _, ok := IsIgnored(err); !ok && !errors.As(err, &fe) {
			t.Fatalf("error of an unexpected kind: %v", err)
		}
		return
	}
	if c.ID == "" || len(c.ID) > 256 || c.TS.IsZero() || (c.ClientID == "" && c.Phone == "" && c.Email == "") {
		t.Fatalf("accepted a malformed chat: %+v", c)
	}
	e := Envelope(c, Meta{Tenant: "acme", Account: "moscow", Provider: provider, ReceivedAt: now})
	if err := e.Validate(); err != nil {
		t.Fatalf("accepted chat does not validate: %v (%+v)", err, c)
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := event.Decode(b); err != nil {
		t.Fatalf("envelope does not decode: %v", err)
	}
}

func addFixtures(f *testing.F, dir string) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzJivo(f *testing.F) {
	addFixtures(f, "jivo")
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := Parse("jivo", body, "RU", now)
		checkParsed(t, "jivo", c, err)
	})
}

func FuzzGeneric(f *testing.F) {
	addFixtures(f, "generic")
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := Parse("generic", body, "RU", now)
		checkParsed(t, "generic", c, err)
	})
}
