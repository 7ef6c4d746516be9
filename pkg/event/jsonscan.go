package event

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// scanner reads JSON from b; every method returns false when the input is
// not what the fast path handles.
type scanner struct {
	b string
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c if it comes next.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) null() bool {
	if len(s.b)-s.i >= 4 && s.b[s.i:s.i+4] == "null" {
		s.i += 4
		return true
	}
	return false
}

// member moves to the n-th member of an object whose '{' was consumed and
// returns its key, with the scanner at the value; end is set at the '}'.
func (s *scanner) member(n int) (key string, end, ok bool) {
	if s.next('}') {
		return "", true, true
	}
	if n > 0 && !s.next(',') {
		return "", false, false
	}
	s.ws()
	key, ok = s.str()
	if !ok || !s.next(':') {
		return "", false, false
	}
	s.ws()
	return key, false, true
}

// special marks the bytes that end a run of plain string content: the
// closing quote, a backslash, control characters and non-ASCII bytes.
var special = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// str reads a JSON string: valid UTF-8 and escapes other than surrogates.
func (s *scanner) str() (string, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	escaped, ascii := false, true
	i := start
	for {
		for i < len(s.b) && !special[s.b[i]] {
			i++
		}
		if i >= len(s.b) {
			return "", false
		}
		c := s.b[i]
		if c == '"' {
			break
		}
		switch {
		case c == '\\':
			escaped = true
			i += 2
		case c < 0x20:
			return "", false
		default:
			ascii = false
			i++
		}
	}
	raw := s.b[start:i]
	s.i = i + 1
	if !ascii && !utf8.ValidString(raw) {
		return "", false
	}
	if !escaped {
		return raw, true
	}
	return s.unescape(raw)
}

// unescape decodes raw's escapes into a string of its own: one allocation
// of raw's length (an escape never decodes longer than it is written), and
// the string is that buffer, not a copy of it.
func (s *scanner) unescape(raw string) (string, bool) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(raw) {
			return "", false
		}
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw[i+1:])
			if !ok || r >= 0xD800 && r < 0xE000 { // surrogates: left to encoding/json
				return "", false
			}
			out = utf8.AppendRune(out, r)
			i += 4
		default:
			return "", false
		}
	}
	if len(out) == 0 {
		return "", true
	}
	return unsafe.String(unsafe.SliceData(out), len(out)), true
}

func hex4(b string) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(b[:4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// int64 reads an integer; null leaves *p as it is. Fractions, exponents
// and overflow are left to encoding/json.
func (s *scanner) int64(p *int64) bool {
	if s.null() {
		return true
	}
	i, neg := s.i, false
	if i < len(s.b) && s.b[i] == '-' {
		neg, i = true, i+1
	}
	start := i
	var n uint64
	for ; i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9'; i++ {
		if n > (1<<63)/10 {
			return false
		}
		n = n*10 + uint64(s.b[i]-'0')
	}
	digits := i - start
	if digits == 0 || digits > 1 && s.b[start] == '0' || n > 1<<63 || !neg && n == 1<<63 {
		return false
	}
	if i < len(s.b) && (s.b[i] == '.' || s.b[i] == 'e' || s.b[i] == 'E') {
		return false
	}
	s.i = i
	if neg {
		*p = -int64(n)
	} else {
		*p = int64(n)
	}
	return true
}

// skip validates and skips any JSON value.
func (s *scanner) skip(depth int) bool {
	if depth > 64 || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		s.i++
		for n := 0; ; n++ {
			_, end, ok := s.member(n)
			if !ok || end {
				return ok
			}
			if !s.skip(depth + 1) {
				return false
			}
		}
	case c == '[':
		s.i++
		if s.next(']') {
			return true
		}
		for {
			s.ws()
			if !s.skip(depth + 1) {
				return false
			}
			if s.next(',') {
				continue
			}
			return s.next(']')
		}
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if strings.HasPrefix(s.b[s.i:], lit) {
			s.i += len(lit)
			return true
		}
	}
	return false
}

// number skips -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	i := s.i
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for ; i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9'; i++ {
			n++
		}
		return n
	}
	start := i
	if n := digits(); n == 0 || n > 1 && s.b[start] == '0' {
		return false
	}
	if i < len(s.b) && s.b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = i
	return true
}
