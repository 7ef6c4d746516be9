package event

import "testing"

func TestNormalizeEmail(t *testing.T) {
	for raw, want := range map[string]string{
		" Ivan.Petrov@Example.RU ": "ivan.petrov@example.ru",
		"mailto:A@B.ru":            "a@b.ru",
		"not-an-email":             "",
		"@example.ru":              "",
		"a@":                       "",
		"a b@c.ru":                 "",
	} {
		if got := NormalizeEmail(raw); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", raw, got, want)
		}
	}
}
