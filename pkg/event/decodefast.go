package event

import (
	"strings"
	"unicode/utf8"
)

// DecodeFast decodes a raw-topic record value exactly as Decode does,
// several times faster. A hand-written scanner takes the envelope as the
// collector writes it; whatever it is not certain to read as encoding/json
// would (keys differing only in case, type mismatches, invalid UTF-8,
// surrogate escapes, syntax errors, a failed check) goes to Decode, which
// gives the result and the error. FuzzDecodeFast compares the two.
func DecodeFast(b []byte) (Envelope, error) {
	var e Envelope
	s := scanner{b: string(b)} // one copy; unescaped strings are slices of it
	if s.envelope(&e) && e.V == Version && e.Tenant != "" && e.Account != "" && e.Type != "" && e.ID != "" {
		return e, nil
	}
	return Decode(b)
}

// envelopeFields are the envelope's keys the fast path reads;
// slowFields are those it leaves to encoding/json: the sub-records of calls,
// CRM changes and costs, a small share of the traffic.
var (
	envelopeFields = []string{"v", "id", "tenant", "account", "type", "name", "source", "ts", "received_at",
		"client_id", "url", "referrer", "utm", "click_ids", "user_agent", "ip", "props", "phone", "email"}
	slowFields = []string{"call", "crm", "cost"}
)

var utmFields = []string{"source", "medium", "campaign", "content", "term"}

// unknown skips the value of a key that names no field. encoding/json also
// matches keys case-insensitively (with Unicode folding), so a key that
// folds to a field's name is left to it.
func (s *scanner) unknown(key string, fieldSets ...[]string) bool {
	for _, fields := range fieldSets {
		for _, f := range fields {
			if strings.EqualFold(key, f) {
				return false
			}
		}
	}
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return false
		}
	}
	return s.skip(0)
}

func (s *scanner) envelope(e *Envelope) bool {
	if !s.next('{') {
		return false
	}
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok {
			return false
		}
		if end {
			break
		}
		switch key {
		case "v":
			ok = s.int(&e.V)
		case "id":
			ok = s.strField(&e.ID)
		case "tenant":
			ok = s.strField(&e.Tenant)
		case "account":
			ok = s.strField(&e.Account)
		case "type":
			ok = s.strField(&e.Type)
		case "name":
			ok = s.strField(&e.Name)
		case "source":
			ok = s.strField(&e.Source)
		case "ts":
			ok = s.int64(&e.TS)
		case "received_at":
			ok = s.int64(&e.ReceivedAt)
		case "client_id":
			ok = s.strField(&e.ClientID)
		case "url":
			ok = s.strField(&e.URL)
		case "referrer":
			ok = s.strField(&e.Referrer)
		case "user_agent":
			ok = s.strField(&e.UserAgent)
		case "ip":
			ok = s.strField(&e.IP)
		case "phone":
			ok = s.strField(&e.Phone)
		case "email":
			ok = s.strField(&e.Email)
		case "call", "crm", "cost":
			return false
		case "utm":
			ok = s.utm(&e.UTM)
		case "click_ids":
			ok = s.strMap(&e.ClickIDs)
		case "props":
			ok = s.strMap(&e.Props)
		default:
			ok = s.unknown(key, envelopeFields, slowFields)
		}
		if !ok {
			return false
		}
	}
	s.ws()
	return s.i == len(s.b)
}

func (s *scanner) utm(u *UTM) bool {
	if s.null() {
		return true
	}
	if !s.next('{') {
		return false
	}
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok || end {
			return ok
		}
		switch key {
		case "source":
			ok = s.strField(&u.Source)
		case "medium":
			ok = s.strField(&u.Medium)
		case "campaign":
			ok = s.strField(&u.Campaign)
		case "content":
			ok = s.strField(&u.Content)
		case "term":
			ok = s.strField(&u.Term)
		default:
			ok = s.unknown(key, utmFields)
		}
		if !ok {
			return false
		}
	}
}

// strMap reads an object of strings into *m, creating it if nil; null sets
// it to nil, as encoding/json does.
func (s *scanner) strMap(m *map[string]string) bool {
	if s.null() {
		*m = nil
		return true
	}
	if !s.next('{') {
		return false
	}
	if *m == nil {
		*m = map[string]string{}
	}
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok || end {
			return ok
		}
		v, ok := s.str()
		if !ok {
			return false
		}
		(*m)[key] = v
	}
}

// strField reads a string into *p; null leaves it as it is.
func (s *scanner) strField(p *string) bool {
	if s.null() {
		return true
	}
	v, ok := s.str()
	if ok {
		*p = v
	}
	return ok
}

func (s *scanner) int(p *int) bool {
	var n int64
	if !s.int64(&n) || int64(int(n)) != n {
		return false
	}
	*p = int(n)
	return true
}
