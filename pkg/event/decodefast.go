package event

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// DecodeFast decodes a raw-topic record value exactly as Decode does,
// several times faster. A hand-written scanner takes the envelope as the
// collector writes it; whatever it is not certain to read as encoding/json
// would (keys differing only in case, type mismatches, invalid UTF-8,
// surrogate escapes, syntax errors, a failed check) goes to Decode, which
// gives the result and the error. FuzzDecodeFast compares the two.
func DecodeFast(b []byte) (Envelope, error) {
	return decodeFast(b, string(b)) // one copy; unescaped strings are slices of it
}

// DecodeView is DecodeFast into e without copying b: the envelope's
// strings that needed no unescaping are views of b, valid only while b is
// neither modified nor reused. For a caller that copies the values out at
// once (the loader writing them into an insert block) it saves the one copy
// per record DecodeFast makes. e is overwritten, except that its ClickIDs
// and Props maps, when not nil, are cleared and reused (a decoder run over
// many records allocates no maps per record): where Decode gives a nil map
// for an absent object, DecodeView may give an empty one.
func DecodeView(b []byte, e *Envelope) error {
	clickIDs, props := e.ClickIDs, e.Props
	clear(clickIDs)
	clear(props)
	*e = Envelope{ClickIDs: clickIDs, Props: props}
	s := scanner{b: unsafe.String(unsafe.SliceData(b), len(b))}
	if s.envelope(e) && e.fastOK() {
		return nil
	}
	var err error
	*e, err = Decode(b)
	return err
}

func decodeFast(b []byte, str string) (Envelope, error) {
	var e Envelope
	s := scanner{b: str}
	if s.envelope(&e) && e.fastOK() {
		return e, nil
	}
	return Decode(b)
}

// fastOK is the check an envelope the fast path read must pass; any other
// goes to Decode for its error.
func (e *Envelope) fastOK() bool {
	return e.V == Version && e.Tenant != "" && e.Account != "" && e.Type != "" && e.ID != ""
}

// envelopeFields are the envelope's keys the fast path reads;
// slowFields are those it leaves to encoding/json: the sub-records of costs
// and number leases, a small share of the traffic.
var (
	envelopeFields = []string{"v", "id", "tenant", "account", "type", "name", "source", "ts", "received_at",
		"client_id", "url", "referrer", "utm", "click_ids", "user_agent", "ip", "props", "phone", "email", "call", "crm", "ym_client_id", "ga_client_id"}
	slowFields = []string{"cost", "lease"}
	callFields = []string{"call_id", "provider", "caller_phone", "tracking_number", "direction", "wait_sec", "talk_sec",
		"answered", "recording_url", "client_ids", "channel"}
	crmFields = []string{"provider", "entity", "action", "lead_id", "deal_id", "contact_id", "pipeline", "stage",
		"outcome", "amount_minor", "currency", "phones", "emails", "client_id", "call_id", "updated_at",
		"units"} // units (a fraction) has no case here: a record carrying it is read by encoding/json
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
		case "ym_client_id":
			ok = s.strField(&e.YMClientID)
		case "ga_client_id":
			ok = s.strField(&e.GAClientID)
		case "call":
			ok = s.call(&e.Call)
		case "crm":
			ok = s.crm(&e.CRM)
		case "cost", "lease":
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

// call reads a call sub-record into **p: null sets it to nil, an object is
// read into the existing record or a new one, as encoding/json does.
func (s *scanner) call(p **Call) bool {
	if s.null() {
		*p = nil
		return true
	}
	if !s.next('{') {
		return false
	}
	if *p == nil {
		*p = &Call{}
	}
	c := *p
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok || end {
			return ok
		}
		switch key {
		case "call_id":
			ok = s.strField(&c.CallID)
		case "provider":
			ok = s.strField(&c.Provider)
		case "caller_phone":
			ok = s.strField(&c.CallerPhone)
		case "tracking_number":
			ok = s.strField(&c.TrackingNumber)
		case "direction":
			ok = s.strField(&c.Direction)
		case "wait_sec":
			ok = s.int(&c.WaitSec)
		case "talk_sec":
			ok = s.int(&c.TalkSec)
		case "answered":
			ok = s.bool(&c.Answered)
		case "recording_url":
			ok = s.strField(&c.RecordingURL)
		case "client_ids":
			ok = s.strList(&c.ClientIDs)
		case "channel":
			ok = s.strField(&c.Channel)
		default:
			ok = s.unknown(key, callFields)
		}
		if !ok {
			return false
		}
	}
}

// crm reads a CRM sub-record into **p, as call does.
func (s *scanner) crm(p **CRM) bool {
	if s.null() {
		*p = nil
		return true
	}
	if !s.next('{') {
		return false
	}
	if *p == nil {
		*p = &CRM{}
	}
	c := *p
	for n := 0; ; n++ {
		key, end, ok := s.member(n)
		if !ok || end {
			return ok
		}
		switch key {
		case "provider":
			ok = s.strField(&c.Provider)
		case "entity":
			ok = s.strField(&c.Entity)
		case "action":
			ok = s.strField(&c.Action)
		case "lead_id":
			ok = s.strField(&c.LeadID)
		case "deal_id":
			ok = s.strField(&c.DealID)
		case "contact_id":
			ok = s.strField(&c.ContactID)
		case "pipeline":
			ok = s.strField(&c.Pipeline)
		case "stage":
			ok = s.strField(&c.Stage)
		case "outcome":
			ok = s.strField(&c.Outcome)
		case "amount_minor":
			ok = s.int64(&c.Amount)
		case "currency":
			ok = s.strField(&c.Currency)
		case "phones":
			ok = s.strList(&c.Phones)
		case "emails":
			ok = s.strList(&c.Emails)
		case "client_id":
			ok = s.strField(&c.ClientID)
		case "call_id":
			ok = s.strField(&c.CallID)
		case "updated_at":
			ok = s.int64(&c.UpdatedAt)
		default:
			ok = s.unknown(key, crmFields)
		}
		if !ok {
			return false
		}
	}
}

// strList reads an array of strings into *p: null sets it to nil, [] to an
// empty slice, as encoding/json does. Null elements are left to it.
func (s *scanner) strList(p *[]string) bool {
	if s.null() {
		*p = nil
		return true
	}
	if !s.next('[') {
		return false
	}
	out := []string{}
	if s.next(']') {
		*p = out
		return true
	}
	for {
		s.ws()
		v, ok := s.str()
		if !ok {
			return false
		}
		out = append(out, v)
		if s.next(',') {
			continue
		}
		if !s.next(']') {
			return false
		}
		*p = out
		return true
	}
}

// bool reads true or false; null leaves *p as it is.
func (s *scanner) bool(p *bool) bool {
	switch {
	case s.null():
		return true
	case strings.HasPrefix(s.b[s.i:], "true"):
		*p = true
		s.i += 4
		return true
	case strings.HasPrefix(s.b[s.i:], "false"):
		*p = false
		s.i += 5
		return true
	}
	return false
}
