// Package ingest turns what arrives at the collector — a pixel query string or
// a batch body of the events API — into validated event envelopes. It is pure:
// no I/O, no clock of its own, so it can be fuzzed. Every rejection is an
// *event.FieldError naming the input field, so senders can fix their input.
package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
)

// Meta is what the collector knows about a request besides its payload.
type Meta struct {
	Principal tenants.Principal // from the write key, never from the payload
	Now       time.Time         // receive time
	UserAgent string
	IP        string
	Referer   string // the Referer header, the pixel's default page URL
	// PhoneRegion is the account's phone_region: numbers written without a
	// country code are read as dialled there ("" = phone.DefaultRegion).
	PhoneRegion string
}

// Limits on event timestamps. A value below minTS is almost always seconds
// sent where milliseconds are expected.
const (
	minTS        = 1_000_000_000_000 // 2001-09-09 in Unix ms
	MaxFutureTS  = 24 * time.Hour    // tolerated clock skew of senders
	tsReasonReq  = "required, Unix milliseconds"
	maxTypeBytes = 64
)

// checkTS validates an event timestamp against the receive time.
func checkTS(field string, ts int64, now time.Time) error {
	switch {
	case ts <= 0:
		return &event.FieldError{Field: field, Reason: tsReasonReq}
	case ts < minTS:
		return &event.FieldError{Field: field, Reason: "Unix milliseconds expected (value looks like seconds)"}
	case ts > now.Add(MaxFutureTS).UnixMilli():
		return &event.FieldError{Field: field, Reason: "more than 24h in the future"}
	}
	return nil
}

// checkName requires a name on goals and named events.
func checkName(field string, e *event.Envelope) error {
	if e.Name == "" && (e.Type == event.TypeGoal || e.Type == event.TypeEvent) {
		return &event.FieldError{Field: field, Reason: "required for type " + e.Type}
	}
	return nil
}

// fillFromURL copies UTM parameters and ad click ids found in the page URL's
// query string into the envelope where the sender did not give them directly.
func fillFromURL(e *event.Envelope) {
	if e.URL == "" || !strings.Contains(e.URL, "?") {
		return
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		return // the URL is stored as sent; it just carries nothing we can extract
	}
	q, _ := url.ParseQuery(u.RawQuery) // keep what parsed even if a pair did not
	setIfEmpty := func(dst *string, name string) {
		if *dst == "" {
			*dst = clean(q.Get(name))
		}
	}
	setIfEmpty(&e.UTM.Source, "utm_source")
	setIfEmpty(&e.UTM.Medium, "utm_medium")
	setIfEmpty(&e.UTM.Campaign, "utm_campaign")
	setIfEmpty(&e.UTM.Content, "utm_content")
	setIfEmpty(&e.UTM.Term, "utm_term")
	for _, p := range event.ClickIDParams {
		if _, ok := e.ClickIDs[p]; ok {
			continue
		}
		if v := clean(q.Get(p)); v != "" {
			if e.ClickIDs == nil {
				e.ClickIDs = map[string]string{}
			}
			e.ClickIDs[p] = v
		}
	}
}

// clean makes a string safe to carry: invalid UTF-8 is replaced so that the
// JSON encoding of the envelope is exactly what was validated.
func clean(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// finish fills the collector-side fields and validates the envelope.
func finish(e *event.Envelope, m Meta, source string) error {
	e.V = event.Version
	e.Tenant = m.Principal.Tenant
	e.Account = m.Principal.Account
	e.Source = source
	e.ReceivedAt = m.Now.UnixMilli()
	if e.ID == "" {
		e.ID = NewID(m.Now)
	}
	fillFromURL(e)
	if err := e.Validate(); err != nil {
		return err
	}
	return nil
}

// NewID returns a time-ordered random id in UUIDv7 form.
func NewID(now time.Time) string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70 // version 7
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// AsFieldError returns err as a field error, wrapping anything else under field.
func AsFieldError(field string, err error) *event.FieldError {
	if fe, ok := err.(*event.FieldError); ok {
		return fe
	}
	return &event.FieldError{Field: field, Reason: fmt.Sprint(err)}
}
