package crm

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Megaplan and Dynamics 365 send JSON objects whose values are typed
// wrappers ({"value": 1000}, {"Value": 1}, {"id": "…"}). vendorObject reads
// one object and helps look values up by the first of several spellings.

type vendorObject map[string]any

func decodeObject(body []byte) (vendorObject, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, fieldErr("body", "not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fieldErr("body", "not a JSON object: %s", jsonReason(err))
	}
	return vendorObject(m), nil
}

// object returns the nested object under the first present key.
func (o vendorObject) object(keys ...string) vendorObject {
	for _, k := range keys {
		if m, ok := o.lookup(k).(map[string]any); ok {
			return vendorObject(m)
		}
	}
	return nil
}

// lookup finds key exactly, else ignoring case.
func (o vendorObject) lookup(key string) any {
	if v, ok := o[key]; ok {
		return v
	}
	for k, v := range o {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// str returns the first present key as text, unwrapping {"value"},
// {"Value"}, {"id"} and {"Id"} wrappers; placeholders are "".
func (o vendorObject) str(keys ...string) string {
	for _, k := range keys {
		if s := text(o.lookup(k)); s != "" {
			return s
		}
	}
	return ""
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return cleanText(x)
	case json.Number:
		return x.String()
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		for _, k := range []string{"value", "Value", "id", "Id"} {
			if s := text(x[k]); s != "" {
				return s
			}
		}
	}
	return ""
}

func cleanText(s string) string {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "null", "undefined", "none", "-":
		return ""
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 || len(s) > 1024 {
		return ""
	}
	return s
}
