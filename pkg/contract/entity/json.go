package entity

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendJSON methods write a record's wire JSON without reflection: byte for
// byte what encoding/json.Marshal writes for the struct (field order, omitempty,
// HTML-safe string escaping, float formatting); TestAppendJSONEqualsMarshal
// and FuzzAppendJSON compare the two. A value encoding/json refuses (a NaN or
// infinite float) gives ErrUnsupportedFloat.

// ErrUnsupportedFloat is returned for NaN and infinite weights or revenue.
var ErrUnsupportedFloat = errors.New("json: unsupported float value (NaN or infinity)")

// AppendJSON appends the session's JSON to b.
func (s *Session) AppendJSON(b []byte) ([]byte, error) {
	b = s.Meta.appendJSON(b)
	b = appendStr(b, `,"session_id":`, s.SessionID)
	b = appendStr(b, `,"client_id":`, s.ClientID)
	b = appendStr(b, `,"person_id":`, s.PersonID)
	b = appendInt(b, `,"start":`, s.Start)
	b = appendInt(b, `,"end":`, s.End)
	b = appendInt(b, `,"duration_ms":`, s.DurationMS)
	b = appendInt(b, `,"hits":`, int64(s.Hits))
	b = appendStr(b, `,"channel":`, s.Channel)
	b = appendStr(b, `,"source":`, s.Source)
	b = appendStr(b, `,"medium":`, s.Medium)
	b = appendOptStr(b, `,"campaign":`, s.Campaign)
	b = appendOptStr(b, `,"content":`, s.Content)
	b = appendOptStr(b, `,"term":`, s.Term)
	b = appendOptStr(b, `,"click_param":`, s.ClickParam)
	b = appendOptStr(b, `,"click_id":`, s.ClickID)
	b = appendOptStr(b, `,"landing_page":`, s.LandingPage)
	b = appendOptStr(b, `,"referrer":`, s.Referrer)
	b = appendStr(b, `,"first_event_id":`, s.FirstEvent)
	b = appendOptStr(b, `,"ym_client_id":`, s.YMClientID)
	b = appendOptStr(b, `,"ga_client_id":`, s.GAClientID)
	return append(b, '}'), nil
}

// AppendJSON appends the call's JSON to b.
func (c *Call) AppendJSON(b []byte) ([]byte, error) {
	b = c.Meta.appendJSON(b)
	b = appendStr(b, `,"call_id":`, c.CallID)
	b = appendStr(b, `,"provider":`, c.Provider)
	b = appendStr(b, `,"vendor_call_id":`, c.VendorCallID)
	b = appendStr(b, `,"person_id":`, c.PersonID)
	b = appendInt(b, `,"ts":`, c.TS)
	b = appendOptStr(b, `,"caller_phone":`, c.CallerPhone)
	b = appendOptStr(b, `,"tracking_number":`, c.TrackingNumber)
	b = appendBool(b, `,"answered":`, c.Answered)
	b = appendInt(b, `,"talk_sec":`, int64(c.TalkSec))
	b = appendInt(b, `,"wait_sec":`, int64(c.WaitSec))
	b = appendBool(b, `,"target":`, c.Target)
	b = appendBool(b, `,"unique":`, c.Unique)
	b = appendOptStr(b, `,"session_id":`, c.SessionID)
	b = appendStr(b, `,"channel":`, c.Channel)
	b = appendBool(b, `,"static":`, c.Static)
	b = appendOptStr(b, `,"lead_id":`, c.LeadID)
	b = appendOptStr(b, `,"recording_url":`, c.RecordingURL)
	b = appendStr(b, `,"event_id":`, c.EventID)
	return append(b, '}'), nil
}

// AppendJSON appends the lead's JSON to b.
func (l *Lead) AppendJSON(b []byte) ([]byte, error) {
	b = l.Meta.appendJSON(b)
	b = appendStr(b, `,"lead_id":`, l.LeadID)
	b = appendStr(b, `,"person_id":`, l.PersonID)
	b = appendInt(b, `,"ts":`, l.TS)
	b = appendStr(b, `,"kind":`, l.Kind)
	b = appendStr(b, `,"first_event_id":`, l.FirstEvent)
	b = appendInt(b, `,"contacts":`, int64(l.Contacts))
	b = appendInt(b, `,"last_contact_at":`, l.LastContactAt)
	b = appendOptStr(b, `,"client_id":`, l.ClientID)
	b = appendOptStr(b, `,"call_id":`, l.CallID)
	b = appendOptStr(b, `,"crm_lead_id":`, l.CRMLeadID)
	b = appendStr(b, `,"channel":`, l.Channel)
	b = appendStr(b, `,"source":`, l.Source)
	b = appendStr(b, `,"medium":`, l.Medium)
	b = appendOptStr(b, `,"campaign":`, l.Campaign)
	b = appendInt(b, `,"touches":`, int64(l.Touches))
	b = appendInt(b, `,"deals":`, int64(l.Deals))
	b = appendInt(b, `,"won_deals":`, int64(l.WonDeals))
	b = appendInt(b, `,"revenue_minor":`, l.RevenueMinor)
	return append(b, '}'), nil
}

// AppendJSON appends the deal's JSON to b.
func (d *Deal) AppendJSON(b []byte) ([]byte, error) {
	b = d.Meta.appendJSON(b)
	b = appendStr(b, `,"deal_id":`, d.DealID)
	b = appendStr(b, `,"provider":`, d.Provider)
	b = appendStr(b, `,"crm_deal_id":`, d.CRMDealID)
	b = appendStr(b, `,"person_id":`, d.PersonID)
	b = appendOptStr(b, `,"lead_id":`, d.LeadID)
	b = appendInt(b, `,"created_at":`, d.CreatedAt)
	b = appendInt(b, `,"updated_at":`, d.UpdatedAt)
	b = appendOptStr(b, `,"pipeline":`, d.Pipeline)
	b = appendOptStr(b, `,"stage":`, d.Stage)
	b = appendStr(b, `,"outcome":`, d.Outcome)
	b = appendInt(b, `,"amount_minor":`, d.AmountMinor)
	b = appendOptStr(b, `,"currency":`, d.Currency)
	b = appendInt(b, `,"revenue_minor":`, d.RevenueMinor)
	if d.Units != 0 {
		var err error
		if b, err = appendFloat(b, `,"units":`, d.Units); err != nil {
			return b, err
		}
	}
	if d.WonAt != 0 {
		b = appendInt(b, `,"won_at":`, d.WonAt)
	}
	b = appendInt(b, `,"changes":`, int64(d.Changes))
	return append(b, '}'), nil
}

// AppendJSON appends the attribution row's JSON to b.
func (a *Attribution) AppendJSON(b []byte) ([]byte, error) {
	b = a.Meta.appendJSON(b)
	b = appendStr(b, `,"lead_id":`, a.LeadID)
	b = appendStr(b, `,"model":`, a.Model)
	b = appendInt(b, `,"touch":`, int64(a.Touch))
	b = appendInt(b, `,"touches":`, int64(a.Touches))
	b = appendInt(b, `,"lead_ts":`, a.LeadTS)
	b = appendInt(b, `,"touch_ts":`, a.TouchTS)
	b = appendOptStr(b, `,"session_id":`, a.SessionID)
	b = appendStr(b, `,"channel":`, a.Channel)
	b = appendStr(b, `,"source":`, a.Source)
	b = appendStr(b, `,"medium":`, a.Medium)
	b = appendOptStr(b, `,"campaign":`, a.Campaign)
	var err error
	if b, err = appendFloat(b, `,"weight":`, a.Weight); err != nil {
		return b, err
	}
	if b, err = appendFloat(b, `,"revenue_minor":`, a.RevenueMinor); err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func (m *Meta) appendJSON(b []byte) []byte {
	b = appendStr(b, `{"tenant":`, m.Tenant)
	b = appendStr(b, `,"account":`, m.Account)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, m.Version, 10)
	if m.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	return b
}

func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

func appendBool(b []byte, key string, v bool) []byte {
	return strconv.AppendBool(append(b, key...), v)
}

func appendOptStr(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendStr(b, key, v)
}

func appendStr(b []byte, key, v string) []byte {
	return appendString(append(b, key...), v)
}

// appendFloat formats like encoding/json: as ES6 does, 'f' unless the
// magnitude calls for an exponent, whose leading zero is dropped.
func appendFloat(b []byte, key string, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, ErrUnsupportedFloat
	}
	b = append(b, key...)
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes encoding/json writes as they are (HTML-safe).
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString quotes s as encoding/json does with HTML escaping: invalid
// UTF-8 becomes \ufffd, U+2028 and U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
