package pii

import (
	"bytes"
	"strings"

	"github.com/throughline/throughline/pkg/phone"
)

// minDigits is the fewest digits a run must hold to be taken for a phone
// number: fewer is a local number without its area code at best.
const minDigits = 7

// Scrub returns payload with the phone numbers and e-mail addresses it
// finds replaced by their hashes, for dead letters: a payload kept for
// inspection and re-driving must not keep the personal data the pipeline
// hashes everywhere else. It reads payloads as text (JSON, form-encoded,
// PHP-style amoCRM forms) without parsing them:
//   - an e-mail is a run of address characters around "@" (or "%40") with a
//     dot in its domain;
//   - a phone is a run of digits and separators ("+", "%2B", spaces,
//     brackets, hyphens, dots) with at least 7 digits that phone.Parse
//     reads as a valid number of region, or that starts with "+" (an
//     international number even if invalid: "+7 916 123 45 6").
//
// Other digit runs (timestamps, ids, amounts) are left alone; a local
// number without a "+" that is not valid for the region is left too, which
// docs/security-pii.md states as the scrubber's limit. With a nil Hasher
// Scrub returns payload unchanged.
func (h *Hasher) Scrub(payload []byte, region string) []byte {
	if h == nil || len(payload) == 0 {
		return payload
	}
	var out []byte // allocated on the first replacement
	last := 0      // payload[last:] is not yet copied to out
	for i := 0; i < len(payload); {
		if j, k, repl := h.emailAt(payload, i); repl != "" {
			j = max(j, last) // the local part began in a phone already hashed
			out = append(append(out, payload[last:j]...), repl...)
			last, i = k, k
			continue
		}
		if isDigit(payload[i]) || payload[i] == '+' || hasPercent(payload, i, "2B") {
			if k, repl := h.phoneAt(payload, i, region); repl != "" {
				out = append(append(out, payload[last:i]...), repl...)
				last, i = k, k
				continue
			} else if k > i {
				i = k
				continue
			}
		}
		i++
	}
	if out == nil {
		return payload
	}
	return append(out, payload[last:]...)
}

// phoneAt reads the run of phone characters starting at i; it returns the
// run's end and the hash to put in its place, or "" when the run is not a
// phone (the end then lets the caller skip the run).
func (h *Hasher) phoneAt(p []byte, i int, region string) (end int, repl string) {
	var num strings.Builder
	digits, plus := 0, false
	k := i
	for k < len(p) {
		c := p[k]
		switch {
		case isDigit(c):
			num.WriteByte(c)
			digits++
			k++
		case c == '+' && digits == 0:
			plus = true
			num.WriteByte('+')
			k++
		case hasPercent(p, k, "2B") && digits == 0:
			plus = true
			num.WriteByte('+')
			k += 3
		case c == ' ' || c == '-' || c == '(' || c == ')' || c == '.' || c == '+':
			num.WriteByte(' ')
			k++
		case hasPercent(p, k, "20") || hasPercent(p, k, "28") || hasPercent(p, k, "29"):
			num.WriteByte(' ')
			k += 3
		default:
			goto done
		}
	}
done:
	// a run ends at its last digit: trailing separators belong to the text
	for k > i && !isDigit(p[k-1]) {
		k--
	}
	// glued to a word or an address, the digits are part of it
	glued := k < len(p) && (isWordByte(p[k]) || p[k] == '@' || hasPercent(p, k, "40")) || i > 0 && (isWordByte(p[i-1]) || p[i-1] == '@')
	if digits < minDigits || digits > 15 || glued {
		return k, ""
	}
	n, err := phone.Parse(num.String(), region)
	switch {
	case err == nil:
		return k, h.Phone(n.E164)
	case plus:
		return k, h.Phone("+" + onlyDigits(num.String()))
	}
	return k, ""
}

// emailAt finds an e-mail address whose "@" is at i (or "%40" starts at i);
// it returns the address's span and the hash to put in its place.
func (h *Hasher) emailAt(p []byte, i int) (start, end int, repl string) {
	at := 1
	switch {
	case p[i] == '@':
	case hasPercent(p, i, "40"):
		at = 3
	default:
		return 0, 0, ""
	}
	start = i
	for start > 0 && isLocalByte(p[start-1]) {
		start--
	}
	end = i + at
	for end < len(p) && isDomainByte(p[end]) {
		end++
	}
	for end > i+at && p[end-1] == '.' {
		end--
	}
	domain := p[i+at : end]
	if start == i || len(domain) < 3 || !bytes.Contains(domain, []byte(".")) {
		return 0, 0, ""
	}
	addr := strings.ToLower(string(p[start:i]) + "@" + string(domain))
	return start, end, h.Email(addr)
}

func hasPercent(p []byte, i int, hex2 string) bool {
	return i+2 < len(p) && p[i] == '%' && strings.EqualFold(string(p[i+1:i+3]), hex2)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isLocalByte(c byte) bool {
	return isWordByte(c) || isDigit(c) || c == '.' || c == '-' || c == '+'
}

func isDomainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '.' || c == '-'
}

func onlyDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
