package calls

import (
	"crypto/subtle"
	"encoding/json"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// trackedNames are the spellings one vendor may use for each part of a
// call. Alloka and Callibri publish no field list for their call
// notifications that we could cite (docs/webhooks/alloka.md,
// docs/webhooks/callibri.md), so each part accepts the names their APIs
// and common integrations use.
type trackedNames struct {
	id, caller, tracking, start, wait, talk, status, phase, record, url, referrer []string
	// vendorIDs map a field to the namespace of the visitor id it holds.
	vendorIDs []struct{ ns, name string }
	props     map[string][]string
}

// parseTracked reads a call-tracking notification sent as URL parameters,
// a form, or a JSON object (one level of nesting under "call", "data" or
// "lead" is lifted), with the names of n. A secret set for the account must
// arrive as the token parameter: neither vendor signs its requests.
func parseTracked(r Request, s Settings, n trackedNames) (Call, error) {
	if s.Secret != "" && subtle.ConstantTimeCompare([]byte(r.Token), []byte(s.Secret)) != 1 {
		return Call{}, ErrSignature
	}
	f, err := formFields(r.Query, r.Body)
	if err != nil {
		return Call{}, err
	}
	f.lift("call", "data", "lead", "result")
	var c Call
	c.Caller = f.phone(s.Region, n.caller...)
	c.Tracking = f.phone(s.Region, n.tracking...)
	start, ok, err := f.when(s, n.start...)
	if err != nil {
		return Call{}, err
	}
	if ok {
		c.Start = start
	}
	if c.ID, err = callID(f.str(n.id...), n.id[0]); err != nil {
		return Call{}, err
	}
	if c.WaitSec, err = f.seconds(n.wait...); err != nil {
		return Call{}, err
	}
	if c.TalkSec, err = f.seconds(n.talk...); err != nil {
		return Call{}, err
	}
	c.Phase = PhaseEnd
	switch strings.ToLower(f.str(n.phase...)) {
	case "start", "started", "incoming", "ringing", "call_start", "callstart", "new", "начало":
		c.Phase = PhaseStart
	case "answer", "answered", "call_answer", "connected":
		c.Phase = PhaseAnswer
	case "record", "record_ready", "recording":
		c.Phase = PhaseRecord
	}
	c.Answered = c.TalkSec > 0
	if v, ok := answeredStatus(f.str(n.status...)); ok {
		c.Answered = v
	}
	if lost, ok := f.boolean("is_lost", "lost", "missed"); ok {
		c.Answered = !lost
	}
	c.Direction = direction(f.str("direction", "call_direction", "type_call"))
	if c.Direction == "" {
		c.Direction = "in"
	}
	c.Recording = f.link(n.record...)
	c.ClientID = f.str("tl_client_id")
	if c.ClientID == "" {
		c.ClientID = fromAttrs(f.str("custom_params", "user_params", "params", "attrs"), "tl_client_id")
	}
	for _, v := range n.vendorIDs {
		if id := f.str(v.name); id != "" && id != "0" && len(id) <= 128 && !strings.ContainsAny(id[:1], "[{") {
			c.VendorIDs = appendUnique(c.VendorIDs, v.ns+":"+id)
		}
	}
	c.UTM = event.UTM{
		Source: f.str("utm_source", "utmsource"), Medium: f.str("utm_medium", "utmmedium"),
		Campaign: f.str("utm_campaign", "utmcampaign"), Content: f.str("utm_content", "utmcontent"),
		Term: f.str("utm_term", "utmterm"),
	}
	c.URL = f.link(n.url...)
	c.Referrer = f.link(n.referrer...)
	props := map[string]string{}
	for prop, names := range n.props {
		if v := f.str(names...); v != "" {
			props[prop] = short(v)
		}
	}
	if len(props) > 0 {
		c.Props = props
	}
	return c, nil
}

// lift copies the fields of a JSON object held by one of names into f,
// without overriding fields f already has.
func (f fields) lift(names ...string) {
	for _, n := range names {
		raw := f[n]
		if !strings.HasPrefix(raw, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(raw), &m) != nil {
			continue
		}
		for k, v := range m {
			if k = strings.ToLower(k); f[k] == "" {
				f[k] = scalar(v)
			}
		}
	}
}

// answeredStatus reads a call's outcome as vendors word it, in English or
// Russian; ok is false for anything else.
func answeredStatus(v string) (answered, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "answered", "answer", "success", "successful", "accepted", "completed", "1", "true", "yes",
		"принятый", "принят", "отвеченный", "успешный", "да":
		return true, true
	case "missed", "noanswer", "no_answer", "no-answer", "busy", "failed", "lost", "unanswered", "0", "false", "no",
		"пропущенный", "непринятый", "неотвеченный", "неуспешный", "занято", "нет":
		return false, true
	}
	return false, false
}
