package calls

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/pii"
)

// fields are a delivery's parameters by lower-cased name, first value only.
// Vendors send only what the customer ticked and spell some names in more
// than one way, so parsers look names up through get.
type fields map[string]string

// formFields reads URL parameters, then a form or JSON-object body over them.
func formFields(query url.Values, body []byte) (fields, error) {
	f := fields{}
	for k, vs := range query {
		if len(vs) > 0 {
			f[strings.ToLower(k)] = vs[0]
		}
	}
	b := strings.TrimSpace(string(body))
	switch {
	case b == "":
	case b[0] == '{':
		var m map[string]any
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "not a JSON object: " + jsonReason(err)}
		}
		for k, v := range m {
			f[strings.ToLower(k)] = scalar(v)
		}
	default:
		vs, err := url.ParseQuery(b)
		if err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "not form-encoded: " + err.Error()}
		}
		for k, v := range vs {
			if len(v) > 0 {
				f[strings.ToLower(k)] = v[0]
			}
		}
	}
	return f, nil
}

// jsonFields flattens one level of a JSON object; nested objects and arrays
// keep their JSON text.
func jsonFields(m map[string]any) fields {
	f := fields{}
	for k, v := range m {
		f[strings.ToLower(k)] = scalar(v)
	}
	return f
}

// scalar renders a decoded JSON value as the string a form would have sent.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// get returns the first of names that holds a real value, and its name.
func (f fields) get(names ...string) (string, string) {
	for _, n := range names {
		if v := clean(f[n]); v != "" {
			return v, n
		}
	}
	return "", names[0]
}

func (f fields) str(names ...string) string {
	v, _ := f.get(names...)
	return v
}

// placeholders are what vendors put where they have no value.
var placeholders = map[string]bool{
	"undefined": true, "null": true, "nil": true, "none": true, "(none)": true, "(not set)": true,
	"not set": true, "<не указано>": true, "не указано": true, "<не определено>": true, "не определено": true,
	"-": true, "--": true, "n/a": true, "0000-00-00 00:00:00": true,
}

// clean trims a value and returns "" for placeholders, for template
// variables the sender left unfilled ("{{visitor_id}}") and for values that
// are not valid UTF-8 or carry control characters.
func clean(v string) string {
	v = strings.TrimSpace(v)
	if v == "" || placeholders[strings.ToLower(v)] {
		return ""
	}
	if strings.HasPrefix(v, "{{") && strings.HasSuffix(v, "}}") {
		return ""
	}
	if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return ""
	}
	return v
}

// maxDuration bounds a call's wait and talk seconds: a week.
const maxDuration = 7 * 24 * 3600

// seconds reads a duration in whole seconds ("95", "95.0", 95). Absent is 0.
func (f fields) seconds(names ...string) (int, error) {
	v, name := f.get(names...)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64)
	if err != nil || math.IsNaN(n) {
		return 0, &event.FieldError{Field: name, Reason: fmt.Sprintf("%q is not a number of seconds", short(v))}
	}
	if n < 0 || n > maxDuration {
		return 0, &event.FieldError{Field: name, Reason: fmt.Sprintf("%s seconds is out of range", short(v))}
	}
	return int(math.Round(n)), nil
}

// boolean reads a yes/no flag; ok is false when absent or unreadable.
func (f fields) boolean(names ...string) (val, ok bool) {
	v, _ := f.get(names...)
	switch strings.ToLower(v) {
	case "1", "true", "yes", "y", "да", "on", "successful", "success", "answered":
		return true, true
	case "0", "false", "no", "n", "нет", "off", "unsuccessful", "missed", "lost":
		return false, true
	}
	return false, false
}

// phone reads and normalises a phone number dialled in region; what is not
// a valid number is "" (the call is kept without it: a vendor's hidden or
// garbled caller id must not cost the call).
func (f fields) phone(region string, names ...string) string {
	return callerPhone(f.str(names...), region)
}

// callerPhone is raw as E.164 (or the hash a re-driven dead letter
// carries), "" when it is not a valid number.
func callerPhone(raw, region string) string {
	p, _ := pii.ParsePhone(raw, region)
	return p
}

// link reads an http(s) URL; anything else is "".
func (f fields) link(names ...string) string {
	return httpURL(f.str(names...))
}

func httpURL(v string) string {
	if strings.HasPrefix(v, "[") { // a JSON array of links: the first
		var links []string
		if json.Unmarshal([]byte(v), &links) == nil && len(links) > 0 {
			v = strings.TrimSpace(links[0])
		}
	}
	if len(v) > event.MaxURL {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return v
}

// localLayouts are the wall-clock forms vendors write times in, read in the
// account's time zone.
var localLayouts = []string{
	"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04:05.000", "2006-01-02 15:04",
	"02.01.2006 15:04:05", "02.01.2006 15:04",
}

// parseTime reads Unix seconds or milliseconds, RFC 3339, or a wall-clock
// time in loc.
func parseTime(v string, loc *time.Location) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "eE") {
		switch {
		case n >= 1e11 && n < 1e14: // milliseconds
			return time.UnixMilli(int64(n)).UTC(), true
		case n >= 1e8 && n < 1e11: // seconds
			sec, frac := math.Modf(n)
			return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
		}
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), true
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, v, loc); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// when reads the first present time of names. A present but unreadable or
// implausible time is an error naming the field.
func (f fields) when(s Settings, names ...string) (time.Time, bool, error) {
	v, name := f.get(names...)
	if v == "" {
		return time.Time{}, false, nil
	}
	t, ok := parseTime(v, s.location())
	if !ok {
		return time.Time{}, false, &event.FieldError{Field: name, Reason: fmt.Sprintf("%q is not a time", short(v))}
	}
	if err := plausible(t, s.Now); err != nil {
		return time.Time{}, false, &event.FieldError{Field: name, Reason: err.Error()}
	}
	return t, true, nil
}

// plausible refuses times before 2000 or more than a day ahead of now.
func plausible(t, now time.Time) error {
	if t.Year() < 2000 {
		return fmt.Errorf("%s is before 2000", t.Format(time.RFC3339))
	}
	if !now.IsZero() && t.After(now.Add(24*time.Hour)) {
		return fmt.Errorf("%s is in the future", t.Format(time.RFC3339))
	}
	return nil
}

// callID checks a vendor's call id.
func callID(v, field string) (string, error) {
	if v == "" {
		return "", &event.FieldError{Field: field, Reason: "required: the vendor's call id"}
	}
	if len(v) > 256 {
		return "", &event.FieldError{Field: field, Reason: "longer than 256 bytes"}
	}
	return v, nil
}

// direction normalises a call direction to in or out ("" when unknown).
func direction(v string) string {
	switch strings.ToLower(v) {
	case "in", "incoming", "inbound", "входящий", "1":
		return "in"
	case "out", "outgoing", "outbound", "исходящий", "2":
		return "out"
	}
	return ""
}

// short keeps error reasons readable when a sender put a book in a field.
func short(v string) string {
	if len(v) > 40 {
		for i := 40; i > 0; i-- {
			if utf8.RuneStart(v[i]) {
				return v[:i] + "…"
			}
		}
	}
	return v
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: wrong type %s", te.Field, te.Value)
	}
	return err.Error()
}
