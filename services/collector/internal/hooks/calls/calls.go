// Package calls reads call-tracking webhooks — Throughline's own generic
// JSON, Calltouch, CoMagic/UIS, Mango Office, Alloka and Callibri — into
// call events. Each
// delivery becomes at most one envelope whose id is derived from the
// provider, the vendor's call id and the call's phase, so a delivery repeated
// by the vendor produces the same envelope and is de-duplicated downstream.
//
// Parsers are tolerant where vendors are sloppy (placeholders such as
// "undefined" or "<не указано>", numbers sent as strings, fields the customer
// did not tick) and strict where a value would be wrong (a call without an
// id, a time that is not a time): those fail with an *event.FieldError naming
// the field, for the dead-letter topic.
package calls

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
)

// Providers are the call-tracking formats understood, as they appear in the
// URL (/v1/hooks/calls/{provider}) and in the tenants file.
var Providers = []string{"generic", "calltouch", "comagic", "mango", "alloka", "callibri"}

// Known reports whether provider is one of Providers.
func Known(provider string) bool {
	for _, p := range Providers {
		if p == provider {
			return true
		}
	}
	return false
}

// Request is one delivery as it arrived, with the write key already removed.
type Request struct {
	Method      string
	ContentType string
	Query       url.Values // URL parameters, without the write key
	Body        []byte
	// Path is what followed the provider in the URL path: Mango appends the
	// event kind ("events/summary") to the address it was given.
	Path string
	// Token is the ?token= parameter, kept out of Query (and so out of dead
	// letters): Alloka and Callibri sign nothing, so an account's secret
	// travels in the URL they are given.
	Token string
}

// Settings are the account's settings a parser needs.
type Settings struct {
	// Secret verifies signatures where the vendor signs (Mango: the API salt).
	Secret string
	// Region is the account's phone_region: numbers without a country code
	// are read as dialled there ("" = phone.DefaultRegion).
	Region string
	// Location reads the wall-clock times some vendors send; nil is UTC.
	Location *time.Location
	// Now is the time of receipt: a call without a time of its own (a
	// Calltouch webhook whose timestamp was not ticked) happened now, and
	// times more than a day ahead of it are refused.
	Now time.Time
	// ReplayWindow is how old a signed delivery's own signed time may be
	// (Mango: the summary's end_time, else create_time); an older one is a
	// replay and fails with ErrReplay. 0: no window (a re-driven delivery).
	ReplayWindow time.Duration
}

func (s Settings) location() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// Phases of a call, in the order a later one supersedes an earlier one.
const (
	PhaseStart  = "start"  // the call came in (ringing, or connected to the tracker)
	PhaseAnswer = "answer" // an employee picked up
	PhaseEnd    = "end"    // the call is over: durations are final
	PhaseRecord = "record" // the recording is ready, with everything PhaseEnd has
)

var phaseRank = map[string]int{PhaseStart: 1, PhaseAnswer: 2, PhaseEnd: 3, PhaseRecord: 4}

// Call is what a parser read from one delivery.
type Call struct {
	ID        string    // the vendor's call id
	Phase     string    // one of the Phase constants
	Start     time.Time // when the call began
	Caller    string    // E.164
	Tracking  string    // E.164: the number dialled
	Direction string    // in, out or ""
	WaitSec   int
	TalkSec   int
	Answered  bool
	Recording string // http(s) URL of the recording
	// ClientID is Throughline's own client id, carried by the vendor as a
	// custom parameter (tl_client_id).
	ClientID string
	// VendorIDs are the visitor ids the vendor reports, prefixed with their
	// namespace (ct:, ym:, ga:, uis:) so they never collide with ours.
	VendorIDs []string
	UTM       event.UTM
	URL       string
	Referrer  string
	Props     map[string]string
	// Account is the account the payload names, if it names one; the
	// handler refuses it unless it is the write key's own.
	Account string
}

// Ignored is returned for a delivery that is understood and deliberately
// not turned into a call event (Mango's events/call, an internal call): the
// sender gets a 200 and nothing is dead-lettered.
type Ignored struct{ Reason string }

func (e *Ignored) Error() string { return "ignored: " + e.Reason }

// ErrSignature means a signed delivery's signature is missing or wrong.
var ErrSignature = errors.New("signature does not verify")

// ErrReplay means a signed delivery's signed time is outside the replay
// window: the signature is right, but it was captured and sent again.
var ErrReplay = errors.New("outside the replay window")

// Parse reads one delivery of provider.
func Parse(provider string, r Request, s Settings) (Call, error) {
	var (
		c   Call
		err error
	)
	switch provider {
	case "generic":
		c, err = parseGeneric(r, s)
	case "calltouch":
		c, err = parseCalltouch(r, s)
	case "comagic":
		c, err = parseComagic(r, s)
	case "mango":
		c, err = parseMango(r, s)
	case "alloka":
		c, err = parseAlloka(r, s)
	case "callibri":
		c, err = parseCallibri(r, s)
	default:
		return Call{}, fmt.Errorf("unknown call-tracking provider %q", provider)
	}
	if err != nil {
		return Call{}, err
	}
	if c.Start.IsZero() {
		c.Start = s.Now
	}
	if c.Start.IsZero() {
		return Call{}, &event.FieldError{Field: "start", Reason: "required"}
	}
	return c, nil
}

// Meta is who the call belongs to and how the account assigns its static
// numbers.
type Meta struct {
	Tenant, Account, Provider string
	ReceivedAt                time.Time
	// Static maps tracking numbers (E.164) that are not substituted per
	// visitor to the channel they are advertised in.
	Static map[string]tenants.StaticNumber
}

// EnvelopeID is the id of the call event for one phase of one call: the same
// for every delivery of it, and ordered by phase, so that when two phases of
// a call carry the same time the later phase sorts last.
func EnvelopeID(tenant, account, provider, callID, phase string) string {
	h := sha256.Sum256([]byte(tenant + "\x00" + account + "\x00" + provider + "\x00" + callID))
	return fmt.Sprintf("call-%s-%d%s", hex.EncodeToString(h[:16]), phaseRank[phase], phase)
}

// Envelope turns a call into its event. A static number without our client
// id takes its channel, source, medium and campaign from the account's
// number configuration.
func Envelope(c Call, m Meta) event.Envelope {
	ids := make([]string, 0, 1+len(c.VendorIDs))
	if c.ClientID != "" {
		ids = append(ids, c.ClientID)
	}
	for _, v := range c.VendorIDs {
		if v = webAnalyticsID(v); v != "" {
			ids = append(ids, v)
		}
	}
	e := event.Envelope{
		V: event.Version, ID: EnvelopeID(m.Tenant, m.Account, m.Provider, c.ID, c.Phase),
		Tenant: m.Tenant, Account: m.Account, Type: event.TypeCall, Name: c.Phase,
		Source: "hook:" + m.Provider, TS: c.Start.UnixMilli(), ReceivedAt: m.ReceivedAt.UnixMilli(),
		ClientID: c.ClientID, URL: c.URL, Referrer: c.Referrer, UTM: c.UTM, Props: c.Props,
		Call: &event.Call{
			CallID: c.ID, Provider: m.Provider, CallerPhone: c.Caller, TrackingNumber: c.Tracking,
			Direction: c.Direction, WaitSec: c.WaitSec, TalkSec: c.TalkSec, Answered: c.Answered,
			RecordingURL: c.Recording, ClientIDs: ids,
		},
	}
	if len(ids) == 0 {
		e.Call.ClientIDs = nil
	}
	if sn, ok := m.Static[c.Tracking]; ok && c.Tracking != "" && c.ClientID == "" {
		e.Call.Channel = sn.Channel
		if sn.Source != "" {
			e.UTM.Source = sn.Source
		}
		if sn.Medium != "" {
			e.UTM.Medium = sn.Medium
		}
		if sn.Campaign != "" {
			e.UTM.Campaign = sn.Campaign
		}
	}
	return e
}

// webAnalyticsID writes a vendor's copy of a web-analytics id as the
// tracker's: "ga:GA1.2.X.Y" becomes "ga:X.Y", so the stitcher links the call
// to the visitor whose hits carried X.Y. A ym: or ga: id that is not one is
// dropped (it could only link the call to nobody, or to a wrong visitor);
// other namespaces pass as they are.
func webAnalyticsID(v string) string {
	switch ns, id, _ := strings.Cut(v, ":"); ns {
	case "ym":
		if id = event.YMClientID(id); id == "" {
			return ""
		}
		return "ym:" + id
	case "ga":
		if id = event.GAClientID(id); id == "" {
			return ""
		}
		return "ga:" + id
	}
	return v
}
