// Package chats reads chat-widget webhooks — Jivo, and Throughline's own
// generic JSON — into chat contacts. A chat becomes a goal event named
// "chat" (one of the stitcher's chat goals), so the stitcher makes it a
// lead of kind chat: by the tracker's client id when the widget carried it,
// else by the visitor's phone or e-mail (an offline message left with a
// phone). A delivery that names neither is understood and ignored: nothing
// could ever link it to a visitor.
//
// Each delivery's envelope id is derived from the provider, the chat's id,
// the vendor's event and the contact it carries, so a delivery the vendor
// repeats is de-duplicated downstream while a later event of the same chat
// that brings a phone is not lost.
package chats

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

// Providers are the chat formats understood, as they appear in the URL
// (/v1/hooks/chats/{provider}) and in the tenants file.
var Providers = []string{"generic", "jivo"}

// Known reports whether provider is one of Providers.
func Known(provider string) bool {
	for _, p := range Providers {
		if p == provider {
			return true
		}
	}
	return false
}

// GoalName is the name of the goal event a chat becomes: one of the
// stitcher's default chat goals.
const GoalName = "chat"

// Chat is what a parser read from one delivery.
type Chat struct {
	ID       string    // the vendor's chat (or offline message) id
	Event    string    // the vendor's event: chat_accepted, offline_message, ...
	TS       time.Time // when it happened; zero is the time of receipt
	ClientID string    // Throughline's client id, carried by the widget
	Phone    string    // E.164
	Email    string    // lower-cased
	URL      string    // the page the chat was started on
	Props    map[string]string
}

// Ignored is returned for a delivery that is understood and deliberately
// not turned into an event (a call event, a chat nobody can be linked to):
// the sender gets its 200 and nothing is dead-lettered.
type Ignored struct{ Reason string }

func (e *Ignored) Error() string { return "ignored: " + e.Reason }

// Parse reads one delivery of provider; now is the time of receipt.
func Parse(provider string, body []byte, region string, now time.Time) (Chat, error) {
	var (
		c   Chat
		err error
	)
	switch provider {
	case "jivo":
		c, err = parseJivo(body, region)
	case "generic":
		c, err = parseGeneric(body, region, now)
	default:
		return Chat{}, fmt.Errorf("unknown chat provider %q", provider)
	}
	if err != nil {
		return Chat{}, err
	}
	if c.ClientID == "" && c.Phone == "" && c.Email == "" {
		return Chat{}, &Ignored{Reason: "no client id, phone or e-mail: the chat cannot be linked to a visitor"}
	}
	if c.TS.IsZero() {
		c.TS = now
	}
	return c, nil
}

// Meta is who the chat belongs to.
type Meta struct {
	Tenant, Account, Provider string
	ReceivedAt                time.Time
}

// Envelope turns a chat into its goal event.
func Envelope(c Chat, m Meta) event.Envelope {
	h := sha256.Sum256([]byte(strings.Join([]string{m.Tenant, m.Account, m.Provider, c.ID, c.Event,
		c.ClientID, c.Phone, c.Email}, "\x00")))
	props := map[string]string{"chat_provider": m.Provider, "chat_id": c.ID, "chat_event": c.Event}
	for k, v := range c.Props {
		props[k] = v
	}
	return event.Envelope{
		V: event.Version, ID: "chat-" + hex.EncodeToString(h[:16]),
		Tenant: m.Tenant, Account: m.Account, Type: event.TypeGoal, Name: GoalName,
		Source: "chat:" + m.Provider, TS: c.TS.UnixMilli(), ReceivedAt: m.ReceivedAt.UnixMilli(),
		ClientID: c.ClientID, URL: c.URL, Phone: c.Phone, Email: c.Email, Props: props,
	}
}

// errField is a field error for the dead-letter topic.
func errField(field, reason string) error { return &event.FieldError{Field: field, Reason: reason} }

// IsIgnored reports whether err is an *Ignored.
func IsIgnored(err error) (*Ignored, bool) {
	var ig *Ignored
	ok := errors.As(err, &ig)
	return ig, ok
}
