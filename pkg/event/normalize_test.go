package event

import "testing"

func TestNormalizePhone(t *testing.T) {
	for raw, want := range map[string]string{
		"+7 (916) 123-45-67":       "+79161234567",
		"8 916 123 45 67":          "+79161234567",
		"89161234567":              "+79161234567",
		"79161234567":              "+79161234567",
		"9161234567":               "+79161234567",
		"+79161234567 доб. 123":    "+79161234567",
		"8-495-123-45-67 ext 12":   "+74951234567",
		"+44 20 7946 0958":         "+442079460958",
		"+1 (415) 555-0100":        "+14155550100",
		"380501234567":             "+380501234567",
		"'89161234567":             "+79161234567",
		"+7\u00a0916\u00a01234567": "+79161234567",
		"":                         "",
		"anonymous":                "",
		"12345":                    "",
		"+0123456789":              "",
		"1234567890123456":         "",
		"++79161234567":            "",
		"7916abc1234567":           "",
	} {
		if got := NormalizePhone(raw); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", raw, got, want)
		}
	}
}

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

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+7 (916) 123-45-67", "8 916 123 45 67", "доб. 5", "+", "'8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p := NormalizePhone(raw)
		if p == "" {
			return
		}
		if p[0] != '+' || len(p) < 9 || len(p) > 16 {
			t.Fatalf("NormalizePhone(%q) = %q", raw, p)
		}
		for _, c := range p[1:] {
			if c < '0' || c > '9' {
				t.Fatalf("NormalizePhone(%q) = %q", raw, p)
			}
		}
		if again := NormalizePhone(p); again != p {
			t.Fatalf("not idempotent: %q → %q → %q", raw, p, again)
		}
	})
}
