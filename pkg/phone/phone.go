// Package phone is Throughline's one phone-number normaliser: every path that
// stores or matches a phone (pixel and API contacts, goals, call-tracking and
// CRM webhooks, number pools and static numbers) reads numbers through it, so
// the same number written two ways — "8 (495) 123-45-67" in a CRM card and
// "74951234567" from a call tracker — becomes the same E.164 string and the
// two meet in identity matching.
//
// Parsing and validation are Google's libphonenumber (the Go port
// github.com/nyaruka/phonenumbers), which knows every country's trunk
// prefix, international prefixes (Russia's 810, the 00 of most others),
// number lengths and allocated ranges. Around it this package adds only what
// the library leaves to the caller: a default region, the "00" international
// prefix in countries whose metadata lists another, numbers sent without
// "+" that already carry their country code, a refusal reason a sender can
// act on, and a memory of the numbers read lately (the library takes tens
// of microseconds a number).
package phone

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// DefaultRegion is the region numbers without a country code are read in when
// neither the tenant nor the account sets phone_region.
const DefaultRegion = "RU"

// maxInput bounds what is handed to the library: no real number, with an
// extension and a tel: URI's parameters, is longer.
const maxInput = 128

// Number is a normalised phone number.
type Number struct {
	// E164 is the number without its extension: "+" and up to 15 digits.
	E164 string
	// Ext is the extension ("доб. 12", "ext 12", ";ext=12", "#12"), kept
	// apart: it reaches a desk inside an organisation, not another person.
	Ext string
}

// Error says why a value is not a phone number; Reason is written for the
// sender and names no field (the caller knows which field it read).
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// ValidRegion reports whether r is a region code (ISO 3166-1 alpha-2, upper
// case) that has a country calling code, such as RU, UA, KZ, BY.
func ValidRegion(r string) bool {
	return len(r) == 2 && r == strings.ToUpper(r) && phonenumbers.GetCountryCodeForRegion(r) != 0
}

// Parse reads raw as a phone number dialled from region (DefaultRegion when
// empty) and returns it if it is a valid number of its country. It takes
// what people and vendors write: separators, a national trunk prefix
// (8 in Russia, 0 in Ukraine), an international prefix (810, 00), a country
// code without "+" ("79161234567"), "+7(8)800…", an extension, a tel: URI.
func Parse(raw, region string) (Number, error) {
	if region == "" {
		region = DefaultRegion
	}
	if len(raw) > maxInput {
		return parse(raw, region)
	}
	key := region + "\x00" + raw
	recent.Lock()
	r, ok := recent.m[key]
	recent.Unlock()
	if ok {
		return r.n, r.err
	}
	n, err := parse(raw, region)
	recent.Lock()
	if len(recent.m) >= recentSize {
		clear(recent.m) // a new generation: simpler than LRU, as good for a stream
	}
	recent.m[key] = result{n, err}
	recent.Unlock()
	return n, err
}

// recent remembers the numbers read lately. The same number comes again and
// again — every phase of a call carries its caller, a CRM resends a contact's
// numbers with every change of its deals — and the library takes tens of
// microseconds a number, a map read well under one.
var recent = struct {
	sync.Mutex
	m map[string]result
}{m: make(map[string]result, recentSize)}

// recentSize bounds recent: ~100 bytes an entry, under 1 MiB.
const recentSize = 8192

type result struct {
	n   Number
	err error
}

// parse is Parse without the memory of recent numbers.
func parse(raw, region string) (Number, error) {
	s := strings.TrimSpace(raw)
	s = strings.TrimPrefix(s, "'") // a spreadsheet's text marker
	if s == "" {
		return Number{}, &Error{Reason: "empty"}
	}
	if len(s) > maxInput {
		return Number{}, &Error{Reason: fmt.Sprintf("longer than %d characters", maxInput)}
	}
	if e164, ok := fast(s, region); ok {
		return Number{E164: e164}, nil
	}
	n, err := phonenumbers.Parse(s, region)
	if err == nil && phonenumbers.IsValidNumber(n) {
		return number(n), nil
	}
	// What the library does not try by itself: "00" as the international
	// prefix where the region's metadata has another (Russia's is 810, yet
	// 00 is dialled there too), and a number that already carries its
	// country code but was sent as bare digits (call trackers send
	// "79161234567" whatever the account's region). Only bare digits: a
	// number a person wrote with brackets or a trunk prefix is read in the
	// region alone, so "8 (495) …" in a Ukrainian account is refused rather
	// than read as +84 (Vietnam).
	if alt := withPlus(s); alt != "" {
		if m, err2 := phonenumbers.Parse(alt, region); err2 == nil && phonenumbers.IsValidNumber(m) {
			return number(m), nil
		}
	}
	if err != nil {
		return Number{}, &Error{Reason: parseReason(err)}
	}
	return Number{}, &Error{Reason: invalidReason(n, region)}
}

// Normalize returns raw as E.164 without its extension, or "" when it is not
// a valid phone number (see Parse).
func Normalize(raw, region string) string {
	n, err := Parse(raw, region)
	if err != nil {
		return ""
	}
	return n.E164
}

// fast reads the forms most numbers arrive in — E.164 from our own
// records and vendors, and 7XXXXXXXXXX / 8XXXXXXXXXX from Russian and
// Kazakh call trackers — without the library's parser, whose extension
// and punctuation patterns cost tens of microseconds a number. Validity is
// still the library's; anything fast does not accept goes to the parser,
// which gives the same answer, only slower.
func fast(s, region string) (string, bool) {
	s = strings.TrimPrefix(s, "tel:")
	plus := strings.HasPrefix(s, "+")
	d := strings.TrimPrefix(s, "+")
	if len(d) < 8 || len(d) > 15 {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	if !plus {
		cc := phonenumbers.GetCountryCodeForRegion(region)
		if cc != 7 || len(d) != 11 || d[0] != '7' && d[0] != '8' {
			return "", false
		}
		d = "7" + d[1:]
	}
	for l := 1; l <= 3; l++ {
		cc, nsn := d[:l], d[l:]
		code := 0
		for i := 0; i < len(cc); i++ {
			code = code*10 + int(cc[i]-'0')
		}
		if r := phonenumbers.GetRegionCodeForCountryCode(code); r == "ZZ" || r == "" {
			continue
		}
		if nsn == "" || nsn[0] == '0' { // Italian-style leading zeros: the parser knows them
			return "", false
		}
		var national uint64
		for i := 0; i < len(nsn); i++ {
			national = national*10 + uint64(nsn[i]-'0')
		}
		c32 := int32(code)
		n := &phonenumbers.PhoneNumber{CountryCode: &c32, NationalNumber: &national}
		if !phonenumbers.IsValidNumber(n) {
			return "", false
		}
		return "+" + d, true
	}
	return "", false
}

func number(n *phonenumbers.PhoneNumber) Number {
	return Number{E164: phonenumbers.Format(n, phonenumbers.E164), Ext: n.GetExtension()}
}

// withPlus returns s as an international number when it is one written
// without "+": "00" and digits, or bare digits long enough to hold a country
// code and a national number (11 to 15). Otherwise "".
func withPlus(s string) string {
	s = strings.TrimPrefix(s, "tel:")
	if rest, ok := strings.CutPrefix(s, "00"); ok && rest != "" && rest[0] != '0' {
		return "+" + rest
	}
	if len(s) < 11 || len(s) > 15 || s[0] == '0' {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	return "+" + s
}

func parseReason(err error) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "no country calling code recognised"
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "too short to be a phone number"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "too long to be a phone number"
	}
	return "not a phone number"
}

func invalidReason(n *phonenumbers.PhoneNumber, region string) string {
	cc := n.GetCountryCode()
	where := phonenumbers.GetRegionCodeForCountryCode(int(cc))
	if where == "ZZ" || where == "" {
		return fmt.Sprintf("+%d is not a country calling code", cc)
	}
	if r := phonenumbers.GetRegionCodeForNumber(n); r != "" && r != "ZZ" {
		where = r
	}
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return fmt.Sprintf("a local number of +%d (%s) without its area code, read with default region %s", cc, where, region)
	case phonenumbers.INVALID_LENGTH:
		return fmt.Sprintf("wrong length for a number of +%d (%s), read with default region %s", cc, where, region)
	case phonenumbers.TOO_SHORT:
		return fmt.Sprintf("too short for a number of +%d (%s), read with default region %s", cc, where, region)
	case phonenumbers.TOO_LONG:
		return fmt.Sprintf("too long for a number of +%d (%s), read with default region %s", cc, where, region)
	}
	return fmt.Sprintf("not a valid number of +%d (%s): no such range, read with default region %s", cc, where, region)
}
