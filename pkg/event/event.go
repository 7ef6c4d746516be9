// Package event defines the envelope every accepted input is normalised into
// before it is published to Kafka. Its JSON form is the wire contract of the raw
// topic; schemas/events/envelope.schema.json documents it for outside readers.
package event

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Version is the envelope format version carried in every record.
const Version = 1

// Types of events the collector accepts today.
const (
	TypePageview = "pageview"
	TypeGoal     = "goal"
	TypeEvent    = "event"
)

// A restatement record (`throughline restate`) carries one already-applied
// hit's inputs again, read back from the events table, so the stitcher
// re-decides its traffic source under today's rules. It has Type and
// Source TypeRestate, which the collector never sets (it sets Source
// itself), the hit's TS and inputs, Props[RestateHit] the hit's event id,
// Name the restatement's id, and an ID of its own (run id/hit id), so
// nothing that deduplicates by event id mistakes it for the hit.
const (
	TypeRestate   = "restate"
	SourceRestate = "restate"
	RestateHit    = "hit"
)

// Envelope is one accepted hit or event.
type Envelope struct {
	V          int               `json:"v"`
	ID         string            `json:"id"`                  // unique per event; client-supplied or generated
	Tenant     string            `json:"tenant"`              // franchise network
	Account    string            `json:"account"`             // branch
	Type       string            `json:"type"`                // pageview, goal, event, ...
	Name       string            `json:"name,omitempty"`      // goal or event name
	Source     string            `json:"source"`              // pixel, api, ...
	TS         int64             `json:"ts"`                  // event time, Unix ms UTC
	ReceivedAt int64             `json:"received_at"`         // collector time, Unix ms UTC
	ClientID   string            `json:"client_id,omitempty"` // first-party visitor id
	URL        string            `json:"url,omitempty"`
	Referrer   string            `json:"referrer,omitempty"`
	UTM        UTM               `json:"utm,omitzero"`
	ClickIDs   map[string]string `json:"click_ids,omitempty"` // yclid, gclid, fbclid, vkclid, ...
	UserAgent  string            `json:"user_agent,omitempty"`
	IP         string            `json:"ip,omitempty"`
	Props      map[string]string `json:"props,omitempty"`
	Phone      string            `json:"phone,omitempty"` // E.164, from a form (identity matching)
	Email      string            `json:"email,omitempty"` // lower-cased, from a form
	// Web-analytics ids of the visitor, when the page runs them: Yandex
	// Metrica's ClientID (the _ym_uid cookie) and Google Analytics' client
	// id (the last two fields of the _ga cookie). Calls that carry them are
	// linked to the visitor by them (webanalytics.go).
	YMClientID string `json:"ym_client_id,omitempty"`
	GAClientID string `json:"ga_client_id,omitempty"`

	Call *Call `json:"call,omitempty"` // type call
	CRM  *CRM  `json:"crm,omitempty"`  // type crm
	Cost *Cost `json:"cost,omitempty"` // type cost

	Lease *NumberLease `json:"lease,omitempty"` // type number_lease
}

// UTM holds the five standard UTM parameters.
type UTM struct {
	Source   string `json:"source,omitempty"`
	Medium   string `json:"medium,omitempty"`
	Campaign string `json:"campaign,omitempty"`
	Content  string `json:"content,omitempty"`
	Term     string `json:"term,omitempty"`
}

// ClickIDParams are the URL parameters recognised as ad click ids.
var ClickIDParams = []string{"yclid", "gclid", "gbraid", "wbraid", "fbclid", "vkclid", "ttclid", "msclkid", "ysclid"}

// Key is the Kafka record key: everything of one account lands on one partition.
func (e *Envelope) Key() []byte { return []byte(e.Tenant + "/" + e.Account) }

// Decode parses a raw-topic record value.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("decoding envelope: %w", err)
	}
	if e.V != Version {
		return e, fmt.Errorf("decoding envelope: unsupported version %d", e.V)
	}
	if e.Tenant == "" || e.Account == "" || e.Type == "" || e.ID == "" {
		return e, fmt.Errorf("decoding envelope: missing tenant, account, type or id")
	}
	return e, nil
}

// FieldError names the input field that was wrong, so senders can fix it.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Field prefixes a FieldError's field with a path element (e.g. "events[3]").
func Field(prefix string, err error) error {
	if fe, ok := err.(*FieldError); ok {
		return &FieldError{Field: prefix + "." + fe.Field, Reason: fe.Reason}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// Limits on field sizes: anything longer is rejected, not truncated silently.
const (
	MaxURL      = 8192
	MaxShort    = 512
	MaxProps    = 64
	MaxPropSize = 2048
)

// Validate checks the envelope fields that came from outside.
func (e *Envelope) Validate() error {
	checks := []struct {
		name string
		val  string
		max  int
	}{
		{"id", e.ID, MaxShort}, {"type", e.Type, 64}, {"name", e.Name, MaxShort},
		{"client_id", e.ClientID, MaxShort}, {"url", e.URL, MaxURL}, {"referrer", e.Referrer, MaxURL},
		{"utm_source", e.UTM.Source, MaxShort}, {"utm_medium", e.UTM.Medium, MaxShort},
		{"utm_campaign", e.UTM.Campaign, MaxShort}, {"utm_content", e.UTM.Content, MaxShort},
		{"utm_term", e.UTM.Term, MaxShort}, {"user_agent", e.UserAgent, MaxURL},
	}
	for _, c := range checks {
		if len(c.val) > c.max {
			return &FieldError{c.name, fmt.Sprintf("longer than %d bytes", c.max)}
		}
	}
	if e.YMClientID != "" && YMClientID(e.YMClientID) != e.YMClientID {
		return &FieldError{"ym_client_id", "not a Yandex Metrica ClientID (digits)"}
	}
	if e.GAClientID != "" && GAClientID(e.GAClientID) != e.GAClientID {
		return &FieldError{"ga_client_id", "not a Google Analytics client id (digits.digits)"}
	}
	if e.Type == "" {
		return &FieldError{"type", "required"}
	}
	if strings.TrimFunc(e.Type, isTypeRune) != "" {
		return &FieldError{"type", "only a-z, 0-9, _ and - are allowed"}
	}
	if e.TS <= 0 {
		return &FieldError{"ts", "required, Unix milliseconds"}
	}
	if len(e.Props) > MaxProps {
		return &FieldError{"props", fmt.Sprintf("more than %d properties", MaxProps)}
	}
	for k, v := range e.Props {
		if len(k) > MaxShort || len(v) > MaxPropSize {
			return &FieldError{"props." + truncate(k, 40), "key or value too long"}
		}
	}
	for k, v := range e.ClickIDs {
		if len(k) > 64 || len(v) > MaxShort {
			return &FieldError{"click_ids." + truncate(k, 40), "key or value too long"}
		}
	}
	return nil
}

func isTypeRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// DeadLetter is the value of a dead-letter record: what arrived, from where, and why
// it was not accepted. Payload is kept raw so a fixed pipeline can re-drive it.
type DeadLetter struct {
	V          int    `json:"v"`
	Tenant     string `json:"tenant,omitempty"`
	Account    string `json:"account,omitempty"`
	Source     string `json:"source"` // pixel, api, loader, ...
	Reason     string `json:"reason"`
	ReceivedAt int64  `json:"received_at"`
	Payload    string `json:"payload"`
}
