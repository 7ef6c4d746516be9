package calls

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/phone"
	"github.com/throughline/throughline/pkg/pii"
)

// parseGeneric reads Throughline's own call JSON (docs/webhooks/generic-calls.md):
// one call per request, a JSON object. Numbers may be sent as strings;
// unknown fields are ignored so senders can add their own.
func parseGeneric(r Request, s Settings) (Call, error) {
	body := bytes.TrimSpace(r.Body)
	if len(body) == 0 {
		return Call{}, &event.FieldError{Field: "body", Reason: "empty: a JSON object with the call is expected"}
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		reason := "not a JSON object"
		if err != nil {
			reason += ": " + jsonReason(err)
		}
		return Call{}, &event.FieldError{Field: "body", Reason: reason}
	}
	if dec.More() {
		return Call{}, &event.FieldError{Field: "body", Reason: "one JSON object per request, found more"}
	}
	f := jsonFields(m)
	var c Call
	var err error
	if c.ID, err = callID(f.str("call_id"), "call_id"); err != nil {
		return Call{}, err
	}
	switch ph := strings.ToLower(f.str("phase")); ph {
	case "":
		c.Phase = PhaseEnd
	case PhaseStart, PhaseAnswer, PhaseEnd, PhaseRecord:
		c.Phase = ph
	default:
		return Call{}, &event.FieldError{Field: "phase", Reason: fmt.Sprintf("%q is not start, answer, end or record", short(ph))}
	}
	start, ok, err := f.when(s, "started_at")
	if err != nil {
		return Call{}, err
	}
	if !ok {
		return Call{}, &event.FieldError{Field: "started_at", Reason: "required: RFC 3339 or Unix seconds/milliseconds"}
	}
	c.Start = start
	if raw := f.str("caller"); raw != "" {
		if c.Caller, err = pii.ParsePhone(raw, s.Region); err != nil {
			return Call{}, &event.FieldError{Field: "caller", Reason: fmt.Sprintf("%q is not a phone number: %v", short(raw), err)}
		}
	}
	if raw := f.str("tracking_number"); raw != "" {
		n, err := phone.Parse(raw, s.Region)
		if err != nil {
			return Call{}, &event.FieldError{Field: "tracking_number", Reason: fmt.Sprintf("%q is not a phone number: %v", short(raw), err)}
		}
		c.Tracking = n.E164
	}
	if raw := f.str("direction"); raw != "" {
		if c.Direction = direction(raw); c.Direction == "" {
			return Call{}, &event.FieldError{Field: "direction", Reason: fmt.Sprintf("%q is not in or out", short(raw))}
		}
	}
	if c.WaitSec, err = f.seconds("wait_sec"); err != nil {
		return Call{}, err
	}
	if c.TalkSec, err = f.seconds("talk_sec"); err != nil {
		return Call{}, err
	}
	c.Answered = c.TalkSec > 0
	if raw := f.str("answered"); raw != "" {
		v, ok := f.boolean("answered")
		if !ok {
			return Call{}, &event.FieldError{Field: "answered", Reason: fmt.Sprintf("%q is not true or false", short(raw))}
		}
		c.Answered = v
	}
	if raw := f.str("recording_url"); raw != "" {
		if c.Recording = httpURL(raw); c.Recording == "" {
			return Call{}, &event.FieldError{Field: "recording_url", Reason: "not an http(s) URL"}
		}
	}
	c.ClientID = f.str("client_id")
	c.Account = f.str("account")
	c.URL, c.Referrer = f.str("url"), f.str("referrer")
	ids, err := stringMap(m["vendor_client_ids"], "vendor_client_ids")
	if err != nil {
		return Call{}, err
	}
	for _, ns := range sortedKeys(ids) {
		if v := clean(ids[ns]); v != "" {
			c.VendorIDs = append(c.VendorIDs, strings.ToLower(ns)+":"+v)
		}
	}
	utm, err := stringMap(m["utm"], "utm")
	if err != nil {
		return Call{}, err
	}
	c.UTM = event.UTM{Source: clean(utm["source"]), Medium: clean(utm["medium"]), Campaign: clean(utm["campaign"]),
		Content: clean(utm["content"]), Term: clean(utm["term"])}
	if c.Props, err = stringMap(m["props"], "props"); err != nil {
		return Call{}, err
	}
	if len(c.Props) == 0 {
		c.Props = nil
	}
	return c, nil
}

// stringMap reads an optional JSON object of scalars.
func stringMap(v any, field string) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &event.FieldError{Field: field, Reason: "must be an object"}
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		switch x.(type) {
		case map[string]any, []any:
			return nil, &event.FieldError{Field: field + "." + short(k), Reason: "must be a string or number"}
		}
		out[k] = scalar(x)
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
