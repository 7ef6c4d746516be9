package event

import "strings"

// NormalizePhone returns a phone number in E.164 (+ and 8-15 digits), or ""
// when raw does not hold one. Separators are ignored and an extension after
// the number ("доб. 12", "ext 12", "#12") is dropped. Numbers written the
// Russian way become +7: 8XXXXXXXXXX and 7XXXXXXXXXX (11 digits) and
// 9XXXXXXXXX (10 digits, a mobile number without the trunk prefix). Other
// numbers without "+" are taken as already carrying their country code.
func NormalizePhone(raw string) string {
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
		case n > 0 && (r == '#' || r == ',' || r == ';' || isLetter(r)):
			// an extension or a second number follows: keep the first number
			return finishPhone(d[:n], plus)
		case i == 0 && r == '\'':
			// a spreadsheet's text marker
		default:
			return ""
		}
	}
	return finishPhone(d[:n], plus)
}

func finishPhone(d []byte, plus bool) string {
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

func isLetter(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0x400 && r <= 0x4ff
}

// NormalizeEmail returns raw trimmed and lower-cased, or "" when it is not an
// e-mail address (no "@" with something on both sides, spaces inside).
func NormalizeEmail(raw string) string {
	e := strings.ToLower(strings.TrimSpace(raw))
	e = strings.TrimPrefix(e, "mailto:")
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 || len(e) > MaxShort || strings.ContainsAny(e, " \t\r\n,;<>") {
		return ""
	}
	return e
}
