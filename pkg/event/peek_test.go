package event

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPeekIDReadsTheCollectorsForm(t *testing.T) {
	e := Envelope{V: Version, ID: "01J-abc", Tenant: "t", Account: "a", Type: TypePageview}
	b, err := json.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := PeekID(b)
	if !ok || id != "01J-abc" {
		t.Fatalf("PeekID(%s) = %q, %v; want 01J-abc, true", b, id, ok)
	}
}

func TestPeekIDDeclinesOtherForms(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `{"v":1}`, `{"v":1,"id":""}`, `{"v":1,"id":"a\"b"}`, `{"v":1,"id":"é"}`,
		`{"v":1,"id":"unterminated`, `{"id":"x","v":1}`, `{"v":2,"id":"x"}`, `{ "v":1,"id":"x"}`,
	} {
		if id, ok := PeekID([]byte(in)); ok {
			t.Errorf("PeekID(%s) = %q, true; want false", in, id)
		}
	}
}

func FuzzPeekID(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"x","tenant":"t","account":"a","type":"pageview","source":"pixel","ts":1,"received_at":1}`))
	f.Add([]byte(`{"v":1,"id":"x\u0041"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, ok := PeekID(b)
		if !ok {
			return
		}
		// What the peek answers is the value's first id, read as JSON reads it.
		prefix := `{"v":1,"id":"` + id + `"`
		if !strings.HasPrefix(string(b), prefix) {
			t.Fatalf("PeekID(%q) = %q: not the value's first id", b, id)
		}
		var s string
		if err := json.Unmarshal([]byte(`"`+id+`"`), &s); err != nil || s != id {
			t.Fatalf("PeekID(%q) = %q, which JSON reads as %q (%v)", b, id, s, err)
		}
	})
}
