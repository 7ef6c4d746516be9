package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// Item is one event of the events API as the sender writes it. The tenant
// and account are never taken from here: they come from the write key, and
// an item that names them is rejected so a misrouted sender notices.
type Item struct {
	ID        string                     `json:"id"`
	Type      string                     `json:"type"`
	Name      string                     `json:"name"`
	TS        json.RawMessage            `json:"ts"`
	ClientID  string                     `json:"client_id"`
	URL       string                     `json:"url"`
	Referrer  string                     `json:"referrer"`
	UTM       event.UTM                  `json:"utm"`
	ClickIDs  map[string]string          `json:"click_ids"`
	Props     map[string]json.RawMessage `json:"props"`
	UserAgent string                     `json:"user_agent"` // of the visitor, when a server relays a hit
	IP        string                     `json:"ip"`         // of the visitor, when a server relays a hit
	Phone     string                     `json:"phone"`      // a form's phone: normalised to E.164 or rejected
	Email     string                     `json:"email"`      // a form's e-mail: lower-cased or rejected
	// The visitor's web-analytics ids: Metrica's ClientID (_ym_uid) and
	// GA's client id (X.Y, or the whole _ga cookie GA1.2.X.Y).
	YMClientID string `json:"ym_client_id"`
	GAClientID string `json:"ga_client_id"`

	Tenant  json.RawMessage `json:"tenant"`
	Account json.RawMessage `json:"account"`
}

// apiField maps envelope field names in validation errors to the API's.
var apiField = map[string]string{
	"utm_source": "utm.source", "utm_medium": "utm.medium", "utm_campaign": "utm.campaign",
	"utm_content": "utm.content", "utm_term": "utm.term",
}

// Batch parses a body of the events API — a JSON array of objects, or
// NDJSON (one object per line; a single object is NDJSON of one line) — into
// envelopes. It is all or nothing: the first invalid item makes the whole
// batch a field error naming it ("events[3].ts"), and no envelope is returned.
func Batch(body []byte, m Meta, maxEvents int) ([]event.Envelope, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return nil, &event.FieldError{Field: "body", Reason: "no events"}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	array := trimmed[0] == '['
	switch {
	case array:
		if _, err := dec.Token(); err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "invalid JSON"}
		}
	case trimmed[0] != '{':
		return nil, &event.FieldError{Field: "body", Reason: "expected a JSON array of event objects or NDJSON"}
	}
	var out []event.Envelope
	for i := 0; dec.More(); i++ {
		where := "events[" + strconv.Itoa(i) + "]"
		if i >= maxEvents {
			return nil, &event.FieldError{Field: "events", Reason: fmt.Sprintf("more than %d events in one request", maxEvents)}
		}
		var it Item
		if err := dec.Decode(&it); err != nil {
			return nil, decodeError(where, err)
		}
		e, err := it.envelope(m)
		if err != nil {
			return nil, event.Field(where, err)
		}
		out = append(out, e)
	}
	if array {
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			return nil, &event.FieldError{Field: "body", Reason: "invalid JSON: unterminated array"}
		}
	}
	if rest := bytes.TrimSpace(trimmed[dec.InputOffset():]); len(rest) > 0 {
		return nil, &event.FieldError{Field: "body", Reason: "unexpected data after the events"}
	}
	if len(out) == 0 {
		return nil, &event.FieldError{Field: "events", Reason: "no events"}
	}
	return out, nil
}

// decodeError names the field of a JSON decoding failure.
func decodeError(where string, err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		f := where
		if te.Field != "" {
			f += "." + te.Field
		}
		return &event.FieldError{Field: f, Reason: fmt.Sprintf("expected %s, got %s", jsonKind(te.Type), te.Value)}
	case errors.As(err, &se):
		return &event.FieldError{Field: where, Reason: "invalid JSON at byte " + strconv.FormatInt(se.Offset, 10)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &event.FieldError{Field: where, Reason: "invalid JSON: unexpected end of body"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return &event.FieldError{Field: where + "." + truncate(name, 64), Reason: "unknown field"}
	}
	return &event.FieldError{Field: where, Reason: "invalid JSON"}
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return clean(s[:n])
	}
	return s
}

// envelope validates one item and builds its envelope.
func (it *Item) envelope(m Meta) (event.Envelope, error) {
	if len(it.Tenant) > 0 {
		return event.Envelope{}, &event.FieldError{Field: "tenant", Reason: "not accepted: the tenant is the write key's"}
	}
	if len(it.Account) > 0 {
		return event.Envelope{}, &event.FieldError{Field: "account", Reason: "not accepted: the account is the write key's"}
	}
	if len(it.TS) == 0 || string(it.TS) == "null" {
		return event.Envelope{}, &event.FieldError{Field: "ts", Reason: tsReasonReq}
	}
	ts, err := strconv.ParseInt(string(it.TS), 10, 64)
	if err != nil {
		return event.Envelope{}, &event.FieldError{Field: "ts", Reason: "integer Unix milliseconds expected"}
	}
	if err := checkTS("ts", ts, m.Now); err != nil {
		return event.Envelope{}, err
	}
	if it.IP != "" {
		if _, err := netip.ParseAddr(it.IP); err != nil {
			return event.Envelope{}, &event.FieldError{Field: "ip", Reason: "not an IPv4 or IPv6 address"}
		}
	}
	props, err := propStrings(it.Props)
	if err != nil {
		return event.Envelope{}, err
	}
	ym, ga := event.YMClientID(it.YMClientID), event.GAClientID(it.GAClientID)
	if ym == "" && strings.TrimSpace(it.YMClientID) != "" {
		return event.Envelope{}, &event.FieldError{Field: "ym_client_id", Reason: "not a Yandex Metrica ClientID (the _ym_uid cookie: digits)"}
	}
	if ga == "" && strings.TrimSpace(it.GAClientID) != "" {
		return event.Envelope{}, &event.FieldError{Field: "ga_client_id", Reason: "not a Google Analytics client id (X.Y, or the _ga cookie GA1.2.X.Y)"}
	}
	e := event.Envelope{
		YMClientID: ym, GAClientID: ga,
		ID: it.ID, Type: it.Type, Name: it.Name, TS: ts, ClientID: it.ClientID,
		URL: it.URL, Referrer: it.Referrer, UTM: it.UTM, ClickIDs: it.ClickIDs,
		Props: props, UserAgent: it.UserAgent, IP: it.IP,
	}
	if len(e.ClickIDs) == 0 {
		e.ClickIDs = nil
	}
	if err := contact(&e, it.Phone, it.Email, "phone", "email", m.PhoneRegion, true); err != nil {
		return e, err
	}
	if e.ID == "" {
		e.ID = contentID(&e, m)
	}
	// Without the visitor's own, the request's: right for browsers calling
	// the API, and a relay that knows better sends ip and user_agent.
	if e.IP == "" {
		e.IP = m.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = clean(m.UserAgent)
	}
	if err := finish(&e, m, "api"); err != nil {
		fe := AsFieldError("item", err)
		if f, ok := apiField[fe.Field]; ok {
			return e, &event.FieldError{Field: f, Reason: fe.Reason}
		}
		return e, fe
	}
	if err := checkName("name", &e); err != nil {
		return e, err
	}
	return e, nil
}

// propStrings turns property values into strings: JSON strings as they are,
// numbers and booleans as written; null drops the property.
func propStrings(in map[string]json.RawMessage) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > event.MaxProps {
		return nil, &event.FieldError{Field: "props", Reason: fmt.Sprintf("more than %d properties", event.MaxProps)}
	}
	out := make(map[string]string, len(in))
	for k, raw := range in {
		switch {
		case len(raw) == 0 || string(raw) == "null":
			continue
		case raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, &event.FieldError{Field: "props." + truncate(k, 40), Reason: "invalid string"}
			}
			out[k] = s
		case raw[0] == '{' || raw[0] == '[':
			return nil, &event.FieldError{Field: "props." + truncate(k, 40), Reason: "expected a string, number or boolean"}
		default:
			out[k] = string(raw)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// contentID derives the id of an item sent without one from its account and
// content, so that a sender retrying the same batch after a timeout does not
// create duplicates downstream. The visitor's IP and user agent are left out:
// a relay's retry may come through a different path.
func contentID(e *event.Envelope, m Meta) string {
	c := *e
	c.IP, c.UserAgent = "", ""
	b, _ := json.Marshal(&c) // maps marshal in key order: deterministic
	h := sha256.New()
	h.Write([]byte(m.Principal.Tenant + "/" + m.Principal.Account + "\n"))
	h.Write(b)
	return "c-" + hex.EncodeToString(h.Sum(nil)[:16])
}
