package costs

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// minorDigits are the ISO 4217 currencies whose minor unit is not a
// hundredth; every other currency has two decimal digits.
var minorDigits = map[string]int{
	"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0, "XAF": 0, "XOF": 0, "PYG": 0, "KMF": 0,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
}

// Exponent is how many decimal digits currency's minor unit has.
func Exponent(currency string) int {
	if d, ok := minorDigits[strings.ToUpper(currency)]; ok {
		return d
	}
	return 2
}

var errMoney = errors.New("not an amount")

// maxMajor bounds an amount: a trillion of any currency is a typo.
const maxMajor = 1e12

// parseMoney reads a decimal amount in major units ("1234.56", "1 234,56",
// "1,234.56") into minor units of a currency with exp decimal digits,
// rounding half away from zero. It never goes through floating point.
func parseMoney(s string, exp int) (int64, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\u00a0', '\u202f', '\'':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if s == "" {
		return 0, errMoney
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	// The last of '.' and ',' is the decimal separator; the other groups thousands.
	dec := strings.LastIndexAny(s, ".,")
	intPart, frac := s, ""
	if dec >= 0 {
		intPart, frac = s[:dec], s[dec+1:]
		sep := s[dec]
		other := byte(',')
		if sep == ',' {
			other = '.'
		}
		if strings.IndexByte(intPart, sep) >= 0 && sep == ',' {
			return 0, errMoney // "1,234,567" with no decimals is ambiguous
		}
		intPart = strings.ReplaceAll(intPart, string(other), "")
	}
	if intPart == "" {
		intPart = "0"
	}
	if !digits(intPart) || (frac != "" && !digits(frac)) || (dec >= 0 && frac == "" && intPart == "0") {
		return 0, errMoney
	}
	if len(intPart) > 13 {
		return 0, errMoney
	}
	major, _ := strconv.ParseInt(intPart, 10, 64)
	if float64(major) > maxMajor {
		return 0, errMoney
	}
	minor := major * pow10(exp)
	if len(frac) > exp {
		// round half away from zero on the first dropped digit
		up := frac[exp] >= '5'
		frac = frac[:exp]
		if up {
			minor++
		}
	}
	for len(frac) < exp {
		frac += "0"
	}
	if frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		minor += f
	}
	if neg {
		minor = -minor
	}
	return minor, nil
}

// microsToMinor converts micro-units (a millionth of the major unit, as
// Yandex Direct and Google Ads report cost) to minor units, rounding half
// away from zero.
func microsToMinor(micros int64, exp int) int64 {
	div := pow10(6 - exp)
	if div == 1 {
		return micros
	}
	q, r := micros/div, micros%div
	if r*2 >= div {
		q++
	} else if r*2 <= -div {
		q--
	}
	return q
}

// parseMicros reads an integer count of micro-units.
func parseMicros(s string) (int64, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// "1234.0" from a spreadsheet that touched the report
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 9e15 {
			return 0, errMoney
		}
		n = int64(f)
	}
	if float64(n)/1e6 > maxMajor {
		return 0, errMoney
	}
	return n, nil
}

// parseCount reads a non-negative whole count of clicks or impressions;
// empty and "--" (Yandex's no-data) are 0.
func parseCount(s string) (int64, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\u00a0' {
			return -1
		}
		return r
	}, s)
	if s == "" || s == "--" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f > 1e15 {
			return 0, errors.New("not a whole number")
		}
		n = int64(f)
	}
	if n < 0 {
		return 0, errors.New("negative")
	}
	return n, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// dateLayouts are the forms a day is accepted in; it is stored as YYYY-MM-DD.
var dateLayouts = []string{"2006-01-02", "02.01.2006", "2006/01/02", "20060102"}

// parseDate reads a calendar day between 2000 and 2100.
func parseDate(s string) (string, error) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if t.Year() < 2000 || t.Year() > 2100 {
				return "", errors.New("year out of range")
			}
			return t.Format("2006-01-02"), nil
		}
	}
	return "", errors.New("not a date (YYYY-MM-DD)")
}
