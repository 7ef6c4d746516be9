package ingest

import (
	"strings"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/pii"
)

// PropContactRejected is the property a pixel hit gets when a phone or
// e-mail it carried could not be normalised: "phone", "email" or
// "phone,email". The hit itself is kept — a form submitted with a mistyped
// number is still a lead — but the value is not, so no junk reaches identity
// matching and no unnormalised personal data reaches the events table.
const PropContactRejected = "contact_rejected"

// contact sets the envelope's phone (E.164, read in the account's region,
// its extension dropped) and e-mail (lower-cased) from what a sender wrote.
// Strict, an unusable value is a field error naming phoneField or
// emailField; lenient, it is dropped and named in PropContactRejected.
func contact(e *event.Envelope, rawPhone, email, phoneField, emailField, region string, strict bool) error {
	var rejected string
	if rawPhone != "" {
		var err error
		if e.Phone, err = pii.ParsePhone(rawPhone, region); err != nil {
			if strict {
				return &event.FieldError{Field: phoneField, Reason: "not a phone number: " + err.Error()}
			}
			rejected = "phone"
		}
	}
	if email != "" {
		if e.Email = normalizeEmail(email); e.Email == "" {
			if strict {
				return &event.FieldError{Field: emailField, Reason: "not an e-mail address"}
			}
			if rejected != "" {
				rejected += ","
			}
			rejected += "email"
		}
	}
	if rejected != "" && len(e.Props) < event.MaxProps {
		if e.Props == nil {
			e.Props = map[string]string{}
		}
		e.Props[PropContactRejected] = rejected
	}
	return nil
}

// normalizeEmail lower-cases an e-mail; a hash passes as it is (see
// pii.ParsePhone).
func normalizeEmail(raw string) string {
	if v := strings.TrimSpace(raw); pii.IsHash(v) {
		return v
	}
	return event.NormalizeEmail(raw)
}
