package event

import "strings"

// Web-analytics client ids travel as Throughline reads them from the
// analytics' first-party cookies, normalised so that the tracker's copy and
// a call tracker's copy of one visitor's id are the same string:
//
//   - Yandex Metrica's ClientID is the _ym_uid cookie: digits
//     (ym:s:clientID in the Logs API; ym_client_id in CoMagic/UIS,
//     yaClientId in Calltouch).
//   - Google Analytics' client id is the last two dot-separated fields of
//     the _ga cookie, GA1.2.1234567890.1700000000 → 1234567890.1700000000
//     (ua_client_id in CoMagic/UIS, gcid in Calltouch).

// maxWebID bounds a web-analytics id: the real ones are under 40 bytes.
const maxWebID = 64

// YMClientID returns a Metrica ClientID as digits, "" when v is not one.
func YMClientID(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > maxWebID || !allDigits(v) || strings.Trim(v, "0") == "" {
		return ""
	}
	return v
}

// GAClientID returns a Google Analytics client id as "digits.digits" from
// either the id itself or the whole _ga cookie ("GA1.2.X.Y", "GA1.3.X.Y"
// on a subdomain cookie); "" when v is neither.
func GAClientID(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > maxWebID+8 {
		return ""
	}
	parts := strings.Split(v, ".")
	if len(parts) == 4 && strings.HasPrefix(strings.ToUpper(parts[0]), "GA") {
		parts = parts[2:]
	}
	if len(parts) != 2 || !allDigits(parts[0]) || !allDigits(parts[1]) || parts[0] == "" || parts[1] == "" {
		return ""
	}
	id := parts[0] + "." + parts[1]
	if len(id) > maxWebID {
		return ""
	}
	return id
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
