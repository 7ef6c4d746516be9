package phone

import (
	"strings"
	"testing"
)

// The inputs of a day's events in their usual mix: most pixel hits carry no
// phone; those that do, and calls and CRM contacts, come in every form.
var benchInputs = []string{
	"+7 (916) 123-45-67", "89161234567", "79161234567", "8 (495) 123-45-67",
	"(495) 123-45-67", "+7(8)800 555-35-35", "+7 495 123-45-67 доб. 123", "tel:+74951234567",
	"+380 44 123 4567", "9161234567",
}

// BenchmarkNormalize is the cost of reading one phone: the library (a
// number seen for the first time, and one read lately) against the
// hand-written normaliser it replaced (legacyNormalize, kept here for the
// ratio), in the same run.
func BenchmarkNormalize(b *testing.B) {
	b.Run("libphonenumber", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if n, err := parse(benchInputs[i%len(benchInputs)], "RU"); err != nil || n.E164 == "" {
				b.Fatal("refused")
			}
		}
	})
	b.Run("recent", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if Normalize(benchInputs[i%len(benchInputs)], "RU") == "" {
				b.Fatal("refused")
			}
		}
	})
	b.Run("legacy", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			legacyNormalize(benchInputs[i%len(benchInputs)])
		}
	})
}

// legacyNormalize is pkg/event's NormalizePhone before this package, only
// as the benchmark's baseline.
func legacyNormalize(raw string) string {
	raw = strings.TrimSpace(raw)
	var d [16]byte
	n := 0
	plus := false
	for i, r := range raw {
		switch {
		case r >= '0' && r <= '9':
			if n == len(d) {
				return ""
			}
			d[n] = byte(r)
			n++
		case r == '+' && n == 0 && !plus:
			plus = true
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '\u00a0' || r == '/':
		case n > 0 && (r == '#' || r == ',' || r == ';' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0x400 && r <= 0x4ff):
			return legacyFinish(d[:n], plus)
		case i == 0 && r == '\'':
		default:
			return ""
		}
	}
	return legacyFinish(d[:n], plus)
}

func legacyFinish(d []byte, plus bool) string {
	s := string(d)
	if !plus {
		switch {
		case len(s) == 11 && (s[0] == '8' || s[0] == '7'):
			s = "7" + s[1:]
		case len(s) == 10 && s[0] == '9':
			s = "7" + s
		}
	}
	if len(s) < 8 || len(s) > 15 || s[0] == '0' {
		return ""
	}
	return "+" + s
}
