package ingest

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/event"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

func TestPixelContact(t *testing.T) {
	cases := []struct {
		ph, em             string
		phone, email, prop string
	}{
		{"8 (916) 123-45-67", " Ivan.Petrov@Example.RU ", "+79161234567", "ivan.petrov@example.ru", ""},
		{"+7 916 123 45 67", "", "+79161234567", "", ""},
		{"79161234567", "", "+79161234567", "", ""},
		{"9161234567", "", "+79161234567", "", ""},
		{"+44 20 7946 0958", "", "+442079460958", "", ""},
		{"123", "", "", "", "phone"},
		{"", "not-an-email", "", "", "email"},
		{"call me", "a b@c", "", "", "phone,email"},
	}
	for _, c := range cases {
		q := url.Values{"t": {"goal"}, "n": {"form_submit"}, "cid": {"c1"}}
		if c.ph != "" {
			q.Set("ph", c.ph)
		}
		if c.em != "" {
			q.Set("em", c.em)
		}
		e, err := Pixel(q.Encode(), testMeta())
		if err != nil {
			t.Fatalf("ph=%q em=%q: %v", c.ph, c.em, err)
		}
		if e.Phone != c.phone || e.Email != c.email || e.Props[PropContactRejected] != c.prop {
			t.Errorf("ph=%q em=%q: phone %q email %q props %v, want %q %q %q",
				c.ph, c.em, e.Phone, e.Email, e.Props, c.phone, c.email, c.prop)
		}
		if e.Type != event.TypeGoal || e.Name != "form_submit" {
			t.Errorf("goal lost: %+v", e)
		}
	}
}

func TestBatchContact(t *testing.T) {
	body := `[{"type":"goal","name":"lead","ts":1759999999000,"phone":"8-916-123-45-67","email":"A@B.RU"}]`
	envs, err := Batch([]byte(body), testMeta(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if envs[0].Phone != "+79161234567" || envs[0].Email != "a@b.ru" {
		t.Fatalf("contact: %q %q", envs[0].Phone, envs[0].Email)
	}
	// The events API is written by developers: a value that is not a phone
	// or an e-mail fails the request, naming the field.
	for body, field := range map[string]string{
		`{"type":"goal","name":"lead","ts":1759999999000,"phone":"12"}`:                                    "events[0].phone",
		`{"type":"goal","name":"lead","ts":1759999999000,"email":"nobody"}`:                                "events[0].email",
		`{"type":"goal","name":"lead","ts":1759999999000,"phone":["+79161234567"]}`:                        "events[0].phone",
		`{"type":"goal","name":"lead","ts":1759999999000,"email":"` + strings.Repeat("a", 600) + `@b.ru"}`: "events[0].email",
	} {
		_, err := Batch([]byte(body), testMeta(), 10)
		fe, ok := err.(*event.FieldError)
		if !ok || fe.Field != field {
			t.Errorf("Batch(%.60s) = %v, want field %q", body, err, field)
		}
	}
}

// FuzzPixelContact: whatever a form sends as ph and em, the hit is kept and
// carries either a valid E.164 phone and a lower-cased e-mail or none.
func FuzzPixelContact(f *testing.F) {
	f.Add("8 (916) 123-45-67", "Ivan@Example.RU")
	f.Add("+7 916 123 45 67 доб. 12", "mailto:x@y.z")
	f.Add("00", "@")
	f.Fuzz(func(t *testing.T, ph, em string) {
		q := url.Values{"t": {"goal"}, "n": {"lead"}, "ph": {ph}, "em": {em}}
		e, err := Pixel(q.Encode(), testMeta())
		if err != nil {
			t.Fatalf("goal rejected for its contact: %v", err)
		}
		checkEnvelope(t, &e, testMeta())
		if e.Phone != "" && !e164.MatchString(e.Phone) {
			t.Fatalf("phone %q from %q is not E.164", e.Phone, ph)
		}
		if e.Email != "" && (e.Email != strings.ToLower(e.Email) || !strings.Contains(e.Email, "@")) {
			t.Fatalf("email %q from %q", e.Email, em)
		}
	})
}

// A re-driven dead letter carries its phone and e-mail hashed (pkg/pii's
// Scrub): they pass as they are, neither refused nor hashed again.
func TestContactKeepsHashes(t *testing.T) {
	hp, he := "h1:0123456789abcdef0123456789abcdef", "h1:fedcba9876543210fedcba9876543210"
	var e event.Envelope
	if err := contact(&e, hp, he, "phone", "email", "RU", true); err != nil {
		t.Fatal(err)
	}
	if e.Phone != hp || e.Email != he {
		t.Errorf("phone %q email %q, want the hashes as they were", e.Phone, e.Email)
	}
}
