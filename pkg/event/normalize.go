package event

import "strings"

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
