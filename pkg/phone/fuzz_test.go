package phone

import "testing"

// FuzzParse: whatever a sender writes, Parse does not panic, and what it
// accepts is E.164 that reads back as itself from every region (so a stored
// number always matches the same number arriving again in any account).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"8 (495) 123-45-67", "(800) 555 35 35", "+7(8)800 555-35-35", "810 49 30 1234567",
		"00 49 30 1234567", "+7 495 123-45-67 доб. 123", "tel:+7-495-123-45-67;ext=12",
		"044 123 4567", "79161234567", "'+79161234567", "+", "00", "tel:", "8", "+0 00",
	} {
		f.Add(s, "RU")
	}
	f.Add("044 123 4567", "UA")
	f.Add("8 017 123 45 67", "BY")
	f.Add("8 701 123 45 67", "KZ")
	f.Fuzz(func(t *testing.T, raw, region string) {
		if region != "" && !ValidRegion(region) {
			region = "RU"
		}
		n, err := Parse(raw, region)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Parse(%q, %q): an error without a reason", raw, region)
			}
			return
		}
		if len(n.E164) < 3 || len(n.E164) > 16 || n.E164[0] != '+' || n.E164[1] == '0' {
			t.Fatalf("Parse(%q, %q) = %q: not E.164", raw, region, n.E164)
		}
		for i := 1; i < len(n.E164); i++ {
			if c := n.E164[i]; c < '0' || c > '9' {
				t.Fatalf("Parse(%q, %q) = %q: not E.164", raw, region, n.E164)
			}
		}
		for _, r := range []string{"RU", "UA", "KZ", "BY", "US"} {
			if got := Normalize(n.E164, r); got != n.E164 {
				t.Fatalf("Normalize(%q, %s) = %q, not itself (from %q)", n.E164, r, got, raw)
			}
		}
	})
}
