package pii

import (
	"strings"
	"testing"
)

const salt = "0123456789abcdef0123456789abcdef"

func TestHasher(t *testing.T) {
	h, other := New(salt), New(strings.Repeat("f", 32))
	p := h.Phone("+74951234567")
	if !IsHash(p) || p == h.Phone("+74951234568") || p != h.Phone("+74951234567") {
		t.Fatalf("Phone: %q is not a stable hash of its number", p)
	}
	if p == other.Phone("+74951234567") {
		t.Fatal("two salts give the same hash")
	}
	if h.Email("+74951234567") == p {
		t.Fatal("an e-mail and a phone of the same text share a hash")
	}
	if h.Phone(p) != p || h.Phone("") != "" {
		t.Fatal("a hash or an empty value is hashed again")
	}
	var none *Hasher
	if none.Enabled() || none.Phone("+74951234567") != "+74951234567" || New("") != nil {
		t.Fatal("a nil hasher changes values")
	}
	for _, v := range []string{"h1:", "h1:" + strings.Repeat("g", 32), "+74951234567", "h2:" + strings.Repeat("a", 32)} {
		if IsHash(v) {
			t.Errorf("IsHash(%q) = true", v)
		}
	}
}

func TestScrub(t *testing.T) {
	h := New(salt)
	ph, em := h.Phone("+74951234567"), h.Email("ivan@mail.ru")
	tests := []struct{ in, want string }{
		{`{"caller":"8 (495) 123-45-67","ts":1765100000000}`, `{"caller":"` + ph + `","ts":1765100000000}`},
		{`caller=%2B7%20495%20123-45-67&email=Ivan%40Mail.ru&x=1`, `caller=` + ph + `&email=` + em + `&x=1`},
		{`contacts[add][0][custom_fields][0][values][0][value]=+7+495+123-45-67`, `contacts[add][0][custom_fields][0][values][0][value]=` + ph},
		{`{"email":"ivan@mail.ru","amount":1500000,"date":"2026-12-07"}`, `{"email":"` + em + `","amount":1500000,"date":"2026-12-07"}`},
		{`{"phone":"+7 916 123 45 6"}`, `{"phone":"` + h.Phone("+7916123456") + `"}`},
		{`74951234567@mail.ru`, h.Email("74951234567@mail.ru")},
		{`call 4951234567x and id abc74951234567`, `call 4951234567x and id abc74951234567`},
		{`x 79161234567.ivan@mail.ru`, `x ` + h.Phone("+79161234567") + h.Email("79161234567.ivan@mail.ru")},
		{`no personal data at all`, `no personal data at all`},
	}
	for _, tt := range tests {
		if got := string(h.Scrub([]byte(tt.in), "RU")); got != tt.want {
			t.Errorf("Scrub(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
	var none *Hasher
	if got := string(none.Scrub([]byte(tests[0].in), "RU")); got != tests[0].in {
		t.Errorf("a nil hasher scrubbed: %s", got)
	}
}

// FuzzScrub: Scrub never panics, and no phone it hashed survives in clear.
func FuzzScrub(f *testing.F) {
	for _, s := range []string{`{"caller":"8 (495) 123-45-67"}`, `a=%2B79161234567&e=x%40y.ru`, `79161234567@mail.ru`, `@`, `%4`, `+`, `%2B`} {
		f.Add([]byte(s))
	}
	h := New(salt)
	f.Fuzz(func(t *testing.T, p []byte) {
		out := h.Scrub(p, "RU")
		if strings.Contains(string(out), "+74951234567") && !strings.Contains(string(p), "+74951234567") {
			t.Fatalf("Scrub made a phone appear: %q → %q", p, out)
		}
		if !strings.Contains(string(p), "+74951234567") {
			return
		}
		if strings.Contains(string(out), "+74951234567") && !isWordByte(lastBefore(string(p), "+74951234567")) {
			t.Fatalf("phone left in clear: %q → %q", p, out)
		}
	})
}

func lastBefore(s, sub string) byte {
	if i := strings.Index(s, sub); i > 0 {
		return s[i-1]
	}
	return ' '
}
