package calls

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// parseCalltouch reads a Calltouch lead webhook about a call: GET or POST
// parameters (form, or a JSON object), only those the customer ticked, sent
// when the call starts (callphase=callconnected) or ends
// (callphase=calldisconnected). docs/webhooks/calltouch.md lists the
// parameters to tick.
//
// Calltouch's documentation of webhook parameter names is thin, so the
// parser accepts the names its pull API uses as well (callerNumber,
// waitingConnect, successful, ...). A webhook without a call id — the
// customer did not tick callId — still makes a call: its id is derived from
// the caller, the tracking number and the call's time, which are the same
// in every delivery of it.
func parseCalltouch(r Request, s Settings) (Call, error) {
	f, err := formFields(r.Query, r.Body)
	if err != nil {
		return Call{}, err
	}
	var c Call
	c.Caller = f.phone(s.Region, "callerphone", "callernumber", "caller_phone", "caller")
	c.Tracking = f.phone(s.Region, "phonenumber", "phone_number", "trackingnumber")
	start, ok, err := f.when(s, "timestamp", "calltime", "call_time", "date")
	if err != nil {
		return Call{}, err
	}
	if ok {
		c.Start = start
	}
	id, _ := f.get("callid", "call_id", "callreferenceid")
	if id == "" {
		if c.Caller == "" || !ok {
			return Call{}, &event.FieldError{Field: "callId",
				Reason: "required (tick callId in the webhook settings), or at least callerphone and timestamp"}
		}
		h := sha256.Sum256([]byte(c.Caller + "\x00" + c.Tracking + "\x00" + start.UTC().Format("2006-01-02T15:04:05")))
		id = "derived-" + hex.EncodeToString(h[:12])
	}
	if c.ID, err = callID(id, "callId"); err != nil {
		return Call{}, err
	}
	switch strings.ToLower(f.str("callphase", "call_phase")) {
	case "callconnected", "connected", "callstarted":
		c.Phase = PhaseStart
	default:
		c.Phase = PhaseEnd
	}
	if c.WaitSec, err = f.seconds("waiting_time", "waitingconnect", "waiting_connect", "waittime"); err != nil {
		return Call{}, err
	}
	// duration is the conversation's length; a call that never connected has 0.
	if c.TalkSec, err = f.seconds("talkduration", "talk_duration", "duration"); err != nil {
		return Call{}, err
	}
	c.Answered = c.TalkSec > 0
	if v, ok := f.boolean("successful", "status", "answered"); ok {
		c.Answered = v
	}
	c.Direction = direction(f.str("direction", "calltype"))
	if c.Direction == "" {
		c.Direction = "in" // call tracking reports the calls visitors make
	}
	c.Recording = f.link("recordurl", "record_url", "recordingurl", "recording_url", "callrecord", "record")
	c.ClientID = f.str("tl_client_id")
	if c.ClientID == "" {
		c.ClientID = fromAttrs(f.str("attrs", "attributes", "customfields"), "tl_client_id")
	}
	for _, v := range []struct{ ns, name string }{
		{"ct", "ctclientid"}, {"ct", "clientid"}, {"ym", "yaclientid"}, {"ga", "gcid"}, {"ga", "gaclientid"},
	} {
		if id := f.str(v.name); id != "" && id != "0" {
			c.VendorIDs = appendUnique(c.VendorIDs, v.ns+":"+id)
		}
	}
	c.UTM = event.UTM{
		Source: f.str("utm_source", "utmsource", "source"), Medium: f.str("utm_medium", "utmmedium", "medium"),
		Campaign: f.str("utm_campaign", "utmcampaign"), Content: f.str("utm_content", "utmcontent"),
		Term: f.str("utm_term", "utmterm"),
	}
	c.URL = f.link("url", "callurl")
	c.Referrer = f.link("ref", "referrer")
	props := map[string]string{}
	for prop, names := range map[string][]string{
		"ct_session_id": {"sessionid"}, "redirect_number": {"redirectnumber"}, "hostname": {"hostname"},
		"ct_unique": {"unique", "uniquecall"}, "ct_target": {"targetcall", "target"}, "subpool": {"subpoolname"},
	} {
		if v := f.str(names...); v != "" && !(prop == "ct_session_id" && v == "0") {
			props[prop] = short(v)
		}
	}
	if len(props) > 0 {
		c.Props = props
	}
	return c, nil
}

// fromAttrs reads name from a JSON object sent as one parameter, as a
// vendor's custom session attributes may be.
func fromAttrs(raw, name string) string {
	if !strings.HasPrefix(raw, "{") {
		return ""
	}
	var m map[string]any
	if json.Unmarshal([]byte(raw), &m) != nil {
		return ""
	}
	return clean(scalar(m[name]))
}

func appendUnique(ids []string, id string) []string {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}
