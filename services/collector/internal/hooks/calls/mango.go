package calls

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/vendorsign"
)

// parseMango reads a Mango Office VPBX event: a form with vpbx_api_key, sign
// and json, where sign = hex(sha256(vpbx_api_key + json + salt)) and salt is
// the account's call-tracking secret. Only events/summary — Mango's final
// record of a call, sent once it is over — makes a call event; events/call
// (the call's state changes) and the other event kinds are acknowledged and
// ignored, because a summary follows every call and carries all of it.
func parseMango(r Request, s Settings) (Call, error) {
	form, err := url.ParseQuery(string(r.Body))
	if err != nil {
		return Call{}, &event.FieldError{Field: "body", Reason: "not form-encoded: " + err.Error()}
	}
	if err := VerifyMango(form.Get("vpbx_api_key"), form.Get("json"), form.Get("sign"), s.Secret); err != nil {
		return Call{}, err
	}
	raw := form.Get("json")
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m == nil {
		reason := "not a JSON object"
		if err != nil {
			reason += ": " + jsonReason(err)
		}
		return Call{}, &event.FieldError{Field: "json", Reason: reason}
	}
	kind := mangoKind(r.Path, m)
	if kind != "summary" {
		return Call{}, &Ignored{Reason: "mango events/" + kind + ": only events/summary makes a call event"}
	}
	f := jsonFields(m)
	var c Call
	if c.ID, err = callID(f.str("entry_id"), "json.entry_id"); err != nil {
		return Call{}, err
	}
	c.Phase = PhaseEnd
	switch dir := f.str("call_direction"); dir {
	case "1":
		c.Direction = "in"
	case "2":
		c.Direction = "out"
	case "0":
		return Call{}, &Ignored{Reason: "mango internal call"}
	default:
		c.Direction = "in"
	}
	from, to := party(m["from"]), party(m["to"])
	line := callerPhone(f.str("line_number"), s.Region)
	if line == "" {
		line = callerPhone(to.str("line_number"), s.Region)
	}
	if c.Direction == "out" {
		c.Caller = callerPhone(to.str("number"), s.Region)
	} else {
		c.Caller = callerPhone(from.str("number"), s.Region)
		c.Tracking = line
	}
	created, ok, err := mangoTime(f, s, "create_time")
	if err != nil {
		return Call{}, err
	}
	if !ok {
		return Call{}, &event.FieldError{Field: "json.create_time", Reason: "required"}
	}
	c.Start = created
	talk, talked, err := mangoTime(f, s, "talk_time")
	if err != nil {
		return Call{}, err
	}
	end, ended, err := mangoTime(f, s, "end_time")
	if err != nil {
		return Call{}, err
	}
	if ended && end.Before(created) {
		return Call{}, &event.FieldError{Field: "json.end_time", Reason: "before create_time"}
	}
	signed := created
	if ended {
		signed = end
	}
	if s.ReplayWindow > 0 && signed.Before(s.Now.Add(-s.ReplayWindow)) {
		return Call{}, fmt.Errorf("%w: the signed end_time/create_time %s is more than %s before receipt; a replayed delivery",
			ErrReplay, signed.UTC().Format(time.RFC3339), s.ReplayWindow)
	}
	switch {
	case talked && ended:
		c.WaitSec, c.TalkSec = secondsBetween(created, talk), secondsBetween(talk, end)
	case talked:
		c.WaitSec = secondsBetween(created, talk)
	case ended:
		c.WaitSec = secondsBetween(created, end)
	}
	c.Answered = talked
	if v, ok := f.boolean("entry_result"); ok {
		c.Answered = v && talked
	}
	if reason := f.str("disconnect_reason"); reason != "" {
		c.Props = map[string]string{"disconnect_reason": short(reason)}
	}
	return c, nil
}

// VerifyMango checks Mango's signature in constant time.
func VerifyMango(apiKey, jsonText, sign, salt string) error {
	if apiKey == "" || sign == "" {
		return fmt.Errorf("%w: vpbx_api_key and sign are required", ErrSignature)
	}
	if salt == "" {
		return fmt.Errorf("%w: no mango secret (API salt) configured for the account", ErrSignature)
	}
	want := []byte(vendorsign.Mango(apiKey, jsonText, salt))
	if subtle.ConstantTimeCompare(want, []byte(strings.ToLower(strings.TrimSpace(sign)))) != 1 {
		return fmt.Errorf("%w: sign does not match sha256(vpbx_api_key + json + salt)", ErrSignature)
	}
	return nil
}

// mangoKind is the event kind: the URL's "events/<kind>" suffix when Mango
// appended one, else told by the fields only a summary has.
func mangoKind(path string, m map[string]any) string {
	path = strings.Trim(path, "/")
	if i := strings.LastIndex(path, "events/"); i >= 0 {
		if k := path[i+len("events/"):]; k != "" {
			return k
		}
	}
	if _, ok := m["call_state"]; ok {
		return "call"
	}
	if _, ok := m["entry_result"]; ok {
		return "summary"
	}
	if _, ok := m["create_time"]; ok {
		return "summary"
	}
	return "unknown"
}

// party reads a from/to object; Mango sends objects, older setups strings.
func party(v any) fields {
	switch x := v.(type) {
	case map[string]any:
		return jsonFields(x)
	case string:
		return fields{"number": x}
	}
	return fields{}
}

// mangoTime reads a Unix-seconds time; 0 means the moment never came.
func mangoTime(f fields, s Settings, name string) (time.Time, bool, error) {
	if v := f.str(name); v == "0" {
		return time.Time{}, false, nil
	}
	t, ok, err := f.when(s, name)
	if err != nil {
		var fe *event.FieldError
		if errors.As(err, &fe) {
			fe.Field = "json." + fe.Field
		}
	}
	return t, ok, err
}

func secondsBetween(a, b time.Time) int {
	d := int(b.Sub(a).Round(time.Second) / time.Second)
	return min(max(d, 0), maxDuration)
}
