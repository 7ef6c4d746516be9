package phone

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// The ways numbers reach us from forms, CRMs and call trackers in Russia,
// Ukraine, Kazakhstan and Belarus, with what libphonenumber makes of them.
func TestParse(t *testing.T) {
	tests := []struct {
		raw, region string
		e164, ext   string
	}{
		// Russia: trunk 8, toll-free 8-800, Moscow landlines, country code without +.
		{"(800) 555 35 35", "RU", "+78005553535", ""},
		{"8-800-555-35-35", "RU", "+78005553535", ""},
		{"+7(8)800 555-35-35", "RU", "+78005553535", ""},
		{"(495) 123-45-67", "RU", "+74951234567", ""},
		{"8 (495) 123-45-67", "RU", "+74951234567", ""},
		{"7 (495) 123-45-67", "RU", "+74951234567", ""},
		{"74951234567", "RU", "+74951234567", ""},
		{"+7 495 123-45-67", "", "+74951234567", ""},
		{"89161234567", "RU", "+79161234567", ""},
		{"9161234567", "RU", "+79161234567", ""},
		{"8 916 123 45 67", "RU", "+79161234567", ""},
		{"'+79161234567", "RU", "+79161234567", ""},
		// International prefixes: Russia's 810 (and the 00 also dialled there).
		{"810 49 30 1234567", "RU", "+49301234567", ""},
		{"8 10 49 30 1234567", "RU", "+49301234567", ""},
		{"00 49 30 1234567", "RU", "+49301234567", ""},
		{"00 49 30 1234567", "UA", "+49301234567", ""},
		// Extensions and tel: URIs.
		{"+7 495 123-45-67 доб. 123", "RU", "+74951234567", "123"},
		{"8 (495) 123-45-67 доб 4", "RU", "+74951234567", "4"},
		{"+7 495 123 45 67 ext 12", "RU", "+74951234567", "12"},
		{"+7 (495) 123-45-67 #12", "RU", "+74951234567", "12"},
		{"tel:+7-495-123-45-67;ext=12", "RU", "+74951234567", "12"},
		{"tel:+74951234567", "UA", "+74951234567", ""},
		// Ukraine: trunk 0; a Russian caller to a Kyiv branch sent without +.
		{"044 123 4567", "UA", "+380441234567", ""},
		{"+380 44 123 4567", "RU", "+380441234567", ""},
		{"380441234567", "UA", "+380441234567", ""},
		{"79161234567", "UA", "+79161234567", ""},
		// Belarus: trunk 8, then the area code's own 0.
		{"8 017 123 45 67", "BY", "+375171234567", ""},
		{"+375 17 123 45 67", "RU", "+375171234567", ""},
		// Kazakhstan shares +7 with Russia; trunk 8.
		{"8 701 123 45 67", "KZ", "+77011234567", ""},
		{"+7 701 123 45 67", "RU", "+77011234567", ""},
		// Elsewhere.
		{"+1 202 555 0100", "RU", "+12025550100", ""},
	}
	for _, tt := range tests {
		n, err := Parse(tt.raw, tt.region)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tt.raw, tt.region, err)
			continue
		}
		if n.E164 != tt.e164 || n.Ext != tt.ext {
			t.Errorf("Parse(%q, %q) = %+v, want %s ext %q", tt.raw, tt.region, n, tt.e164, tt.ext)
		}
		if got := Normalize(tt.raw, tt.region); got != tt.e164 {
			t.Errorf("Normalize(%q, %q) = %q, want %q", tt.raw, tt.region, got, tt.e164)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		raw, region, reason string
	}{
		{"", "RU", "empty"},
		{"   ", "RU", "empty"},
		{"call me", "RU", "not a phone number"},
		{"+7 916 123", "RU", "too short for a number of +7 (RU)"},
		{"+7 916 123 45 67 89", "RU", "of +7 (RU)"},
		{"1234567", "RU", "a local number of +7 (RU) without its area code"},
		// the old normaliser's output for "(800) 555 35 35"
		{"+8005553535", "RU", "+800"},
		// Russian numbers read in a Ukrainian account without + or trunk 8
		// of their own are not Ukrainian numbers.
		{"8 (495) 123-45-67", "UA", "(UA)"},
		{"+7 000 000 00 00", "RU", "not a valid number of +7"},
		{"+999 123 456 789", "RU", "no country calling code recognised"},
		{strings.Repeat("1", 200), "RU", "longer than 128 characters"},
	}
	for _, tt := range tests {
		n, err := Parse(tt.raw, tt.region)
		if err == nil {
			t.Errorf("Parse(%q, %q) = %+v, want an error", tt.raw, tt.region, n)
			continue
		}
		if !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("Parse(%q, %q): %q, want it to contain %q", tt.raw, tt.region, err, tt.reason)
		}
		if got := Normalize(tt.raw, tt.region); got != "" {
			t.Errorf("Normalize(%q, %q) = %q, want \"\"", tt.raw, tt.region, got)
		}
	}
}

// Every example number libphonenumber's metadata gives for the four
// countries, written in the country's national and international formats,
// as E.164 and without "+", reads back as the same number from its own
// region and, in international form, from each of the others.
func TestParseLibphonenumberExamples(t *testing.T) {
	regions := []string{"RU", "UA", "KZ", "BY"}
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE}
	n := 0
	for _, r := range regions {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(r, typ)
			if ex == nil {
				continue
			}
			want := phonenumbers.Format(ex, phonenumbers.E164)
			forms := map[string]string{
				"national":      phonenumbers.Format(ex, phonenumbers.NATIONAL),
				"international": phonenumbers.Format(ex, phonenumbers.INTERNATIONAL),
				"e164":          want,
				"rfc3966":       phonenumbers.Format(ex, phonenumbers.RFC3966),
			}
			for form, raw := range forms {
				if got := Normalize(raw, r); got != want {
					t.Errorf("%s %v %s %q: got %q, want %q", r, typ, form, raw, got, want)
				}
				n++
			}
			for _, other := range regions {
				if got := Normalize(forms["international"], other); got != want {
					t.Errorf("%s %v international %q read in %s: got %q, want %q", r, typ, forms["international"], other, got, want)
				}
			}
		}
	}
	if n < 4*2*4 {
		t.Fatalf("only %d example forms: the metadata lost its examples", n)
	}
}

func TestValidRegion(t *testing.T) {
	for r, want := range map[string]bool{"RU": true, "UA": true, "KZ": true, "BY": true, "ru": false, "XX": false, "": false, "RUS": false} {
		if got := ValidRegion(r); got != want {
			t.Errorf("ValidRegion(%q) = %v, want %v", r, got, want)
		}
	}
}

// The cases of the normaliser this package replaced (pkg/event), with what
// they become now: the same where it was right, refused where it stored junk.
func TestParseFormerCases(t *testing.T) {
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
	} {
		if got := Normalize(raw, "RU"); got != want {
			t.Errorf("Normalize(%q, RU) = %q, want %q", raw, got, want)
		}
	}
}

// Numbers read lately are remembered with their answer (refusals too), and
// the memory stays bounded however many numbers come.
func TestRecentNumbers(t *testing.T) {
	n1, err1 := Parse("8 (495) 123-45-67", "RU")
	n2, err2 := Parse("8 (495) 123-45-67", "RU")
	if n1 != n2 || err1 != nil || err2 != nil {
		t.Fatalf("%+v %v, then %+v %v", n1, err1, n2, err2)
	}
	if _, err := Parse("8 (495) 123-45-67", "UA"); err == nil {
		t.Fatal("the answer for RU was given for UA")
	}
	if _, err := Parse("+7 916 123", "RU"); err == nil {
		t.Fatal("a refusal was forgotten as an acceptance")
	}
	for i := range recentSize + 10 {
		Parse(fmt.Sprintf("+7916%07d", i), "RU")
	}
	recent.Lock()
	size := len(recent.m)
	recent.Unlock()
	if size > recentSize {
		t.Fatalf("%d numbers remembered, at most %d", size, recentSize)
	}
}
