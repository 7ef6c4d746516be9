package calls

import (
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// parseComagic reads a CoMagic/UIS HTTP notification. The customer writes
// the body template; docs/webhooks/comagic.md gives the one to paste (a JSON
// object with every value quoted). Form or GET parameters with the same
// names are read as well, and variables UIS left unfilled ("{{visitor_id}}")
// count as absent.
func parseComagic(r Request, s Settings) (Call, error) {
	f, err := formFields(r.Query, r.Body)
	if err != nil {
		return Call{}, err
	}
	var c Call
	if c.ID, err = callID(f.str("call_session_id", "communication_id"), "call_session_id"); err != nil {
		return Call{}, err
	}
	c.Phase = comagicPhase(f.str("phase", "notification_mnemonic", "notification_name"))
	start, ok, err := f.when(s, "start_time", "notification_time", "notification_timestamp")
	if err != nil {
		return Call{}, err
	}
	if ok {
		c.Start = start
	}
	c.Direction = direction(f.str("direction"))
	if c.Direction == "" {
		c.Direction = "in"
	}
	if c.Direction == "out" {
		c.Caller = f.phone(s.Region, "contact_phone_number", "called_phone_number")
	} else {
		c.Caller = f.phone(s.Region, "contact_phone_number", "calling_phone_number")
		c.Tracking = f.phone(s.Region, "virtual_phone_number", "called_phone_number")
	}
	if c.WaitSec, err = f.seconds("wait_time_duration", "wait_duration"); err != nil {
		return Call{}, err
	}
	if c.TalkSec, err = f.seconds("talk_time_duration", "talk_duration"); err != nil {
		return Call{}, err
	}
	if c.WaitSec == 0 && c.TalkSec == 0 {
		// total = wait + talk: a call that was never picked up waited all of it
		total, err := f.seconds("total_time_duration", "total_duration")
		if err != nil {
			return Call{}, err
		}
		c.WaitSec = total
	}
	c.Answered = c.TalkSec > 0
	if lost, ok := f.boolean("is_lost"); ok {
		c.Answered = !lost && c.TalkSec > 0
	}
	c.Recording = f.link("file_link", "record_link", "recording_url")
	c.ClientID = f.str("tl_client_id")
	for _, v := range []struct{ ns, name string }{
		{"uis", "visitor_id"}, {"ym", "ym_client_id"}, {"ga", "ua_client_id"}, {"ga", "ga_client_id"},
	} {
		if id := f.str(v.name); id != "" && id != "0" {
			c.VendorIDs = appendUnique(c.VendorIDs, v.ns+":"+id)
		}
	}
	c.UTM = event.UTM{
		Source: f.str("utm_source"), Medium: f.str("utm_medium"),
		Campaign: f.str("utm_campaign", "campaign_name"), Content: f.str("utm_content"), Term: f.str("utm_term"),
	}
	c.URL = f.link("page_url", "url")
	c.Referrer = f.link("referrer")
	props := map[string]string{}
	for _, name := range []string{"employee_id", "call_source", "tag_names", "scenario_name", "external_id"} {
		if v := f.str(name); v != "" {
			props[name] = short(v)
		}
	}
	if len(props) > 0 {
		c.Props = props
	}
	return c, nil
}

// comagicPhase maps the template's phase, or a notification's mnemonic, to
// a call phase. Unknown names are the end of a call: the notification the
// documentation tells customers to send.
func comagicPhase(v string) string {
	v = strings.ToLower(v)
	switch v {
	case PhaseStart, PhaseAnswer, PhaseEnd, PhaseRecord:
		return v
	}
	switch {
	case strings.Contains(v, "record") || strings.Contains(v, "file"):
		return PhaseRecord
	case strings.Contains(v, "talk_start") || strings.Contains(v, "answer"):
		return PhaseAnswer
	case strings.Contains(v, "incoming") || strings.Contains(v, "in_call") || strings.Contains(v, "start"):
		return PhaseStart
	}
	return PhaseEnd
}
