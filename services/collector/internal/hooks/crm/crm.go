// Package crm maps CRM webhooks — Throughline's generic JSON, amoCRM's PHP
// form arrays, Bitrix24's id-only events, Megaplan's deal webhooks and
// Dynamics 365 opportunities — onto event.CRM changes: the
// entity and its ids, stage and outcome (open, won, lost), amount in minor
// units, phones (E.164), e-mails, our client id and call id, and the vendor's
// change time, which orders out-of-order deliveries downstream.
//
// Parsing is pure and fuzzed; what a webhook leaves out is pulled through the
// AmoCRMAPI and Bitrix24API interfaces (implemented by package fetch).
package crm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/pii"
	"github.com/throughline/throughline/pkg/tenants"
)

// Providers.
const (
	Generic  = "generic"
	AmoCRM   = "amocrm"
	Bitrix24 = "bitrix24"
)

// Entities, actions and outcomes of event.CRM.
const (
	EntityLead    = "lead"
	EntityDeal    = "deal"
	EntityContact = "contact"

	ActionAdd    = "add"
	ActionUpdate = "update"
	ActionStatus = "status"
	ActionDelete = "delete"

	OutcomeOpen = "open"
	OutcomeWon  = "won"
	OutcomeLost = "lost"
)

// Settings are what the account's configuration says about its CRM.
type Settings struct {
	Currency      string   // the tenant's ISO 4217 code, for amounts sent without one
	WonStages     []string // stage/status ids that mean won (replace the vendor's defaults)
	LostStages    []string // … and lost
	ClientIDField string   // custom field (id, code or name) carrying our client id
	CallIDField   string   // custom field carrying the call-tracking call id
	// UnitsField is the custom field whose number is the deal's units sold;
	// set, it wins over line items (and saves pulling them).
	UnitsField string
	// UnitsCatalog (amoCRM) is the catalog id whose linked elements are the
	// units sold, "*" for every catalog; "" reads no catalog.
	UnitsCatalog string
	// Region is the account's phone_region: contacts' numbers without a
	// country code are read as dialled there ("" = phone.DefaultRegion).
	Region string
}

// SettingsFor derives the settings of an account's CRM; crm may be nil.
func SettingsFor(currency, region string, crm *tenants.CRM) Settings {
	if currency == "" {
		currency = "RUB"
	}
	s := Settings{Currency: strings.ToUpper(currency), Region: region}
	if crm != nil {
		s.WonStages, s.LostStages = crm.WonStages, crm.LostStages
		s.ClientIDField, s.CallIDField = crm.ClientIDField, crm.CallIDField
		s.UnitsField, s.UnitsCatalog = strings.TrimSpace(crm.UnitsField), strings.TrimSpace(crm.UnitsCatalog)
	}
	return s
}

// Change is one parsed change. When the vendor gave no change time,
// UpdatedAt is 0 until Envelope fills in the time of receipt.
type Change struct {
	event.CRM
	// Seed, when set, replaces the change time in the envelope id: a hash of
	// what was received, so a duplicate delivery still gets the same id.
	Seed string
	// UnitsNote says why the change's units could not be pulled (a portal
	// without the product rows method): it is published without them.
	UnitsNote string
}

// Error is a payload problem, naming the field at fault.
type Error = event.FieldError

func fieldErr(field, format string, args ...any) error {
	return &event.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// AsFieldError returns err as a field error, naming field when it is not one.
func AsFieldError(field string, err error) *event.FieldError {
	var fe *event.FieldError
	if errors.As(err, &fe) {
		return fe
	}
	return &event.FieldError{Field: field, Reason: err.Error()}
}

// Envelope turns a change into the raw-topic envelope of an account. Its id
// is derived from the account, provider, entity, ids, change time and state,
// so a duplicate delivery of the same change yields the same id.
func Envelope(p tenants.Principal, ch Change, receivedAt time.Time) event.Envelope {
	c := ch.CRM
	if c.UpdatedAt <= 0 {
		c.UpdatedAt = receivedAt.UnixMilli()
	}
	c.Phones = dedup(c.Phones)
	c.Emails = dedup(c.Emails)
	stamp := strconv.FormatInt(c.UpdatedAt, 10)
	if ch.Seed != "" {
		stamp = ch.Seed
	}
	state := "live"
	if c.Action == ActionDelete {
		state = "deleted"
	}
	h := sha256.New()
	for _, s := range []string{p.Tenant, p.Account, c.Provider, c.Entity, entityID(&c), stamp,
		state, c.Stage, c.Outcome, strconv.FormatInt(c.Amount, 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if c.Units != 0 { // only then, so changes without units keep their ids
		h.Write([]byte(strconv.FormatFloat(c.Units, 'g', -1, 64)))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return event.Envelope{
		V: event.Version, ID: "crm-" + hex.EncodeToString(sum[:16]),
		Tenant: p.Tenant, Account: p.Account, Type: event.TypeCRM, Source: "crm:" + c.Provider,
		TS: c.UpdatedAt, ReceivedAt: receivedAt.UnixMilli(), ClientID: c.ClientID,
		CRM: &c,
	}
}

func entityID(c *event.CRM) string {
	switch c.Entity {
	case EntityLead:
		return c.LeadID
	case EntityDeal:
		return c.DealID
	default:
		return c.ContactID
	}
}

// PayloadSeed is the seed of changes without a vendor time: the received
// bytes' digest.
func PayloadSeed(body []byte) string {
	sum := sha256.Sum256(body)
	return "payload:" + hex.EncodeToString(sum[:12])
}

// MaxUnits bounds a deal's units sold: more is a typo or an attack, not a
// sale.
const MaxUnits = 1e9

// Validate checks a change before it is published.
func Validate(c *event.CRM) error {
	switch c.Entity {
	case EntityLead, EntityDeal, EntityContact:
	default:
		return fieldErr("entity", "%q is not lead, deal or contact", c.Entity)
	}
	if entityID(c) == "" {
		return fieldErr(c.Entity+"_id", "required")
	}
	switch c.Outcome {
	case OutcomeOpen, OutcomeWon, OutcomeLost:
	default:
		return fieldErr("outcome", "%q is not open, won or lost", c.Outcome)
	}
	for _, f := range []struct{ name, v string }{{"lead_id", c.LeadID}, {"deal_id", c.DealID}, {"contact_id", c.ContactID},
		{"pipeline", c.Pipeline}, {"stage", c.Stage}, {"client_id", c.ClientID}, {"call_id", c.CallID}} {
		if len(f.v) > event.MaxShort {
			return fieldErr(f.name, "longer than %d bytes", event.MaxShort)
		}
	}
	if len(c.Phones) > 50 || len(c.Emails) > 50 {
		return fieldErr("phones", "more than 50 phones or e-mails")
	}
	if c.Amount < 0 {
		return fieldErr("amount", "negative")
	}
	if math.IsNaN(c.Units) || c.Units < 0 || c.Units > MaxUnits {
		return fieldErr("units", "%v is not a quantity from 0 to %v", c.Units, MaxUnits)
	}
	if c.Currency != "" && !isCurrency(c.Currency) {
		return fieldErr("currency", "%q is not an ISO 4217 code", c.Currency)
	}
	return nil
}

// Outcome classifies a stage by the configured lists; def is the answer
// when neither lists it.
func (s Settings) Outcome(stage, def string) string {
	switch {
	case stage == "":
		return def
	case contains(s.WonStages, stage):
		return OutcomeWon
	case contains(s.LostStages, stage):
		return OutcomeLost
	}
	return def
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}

// Amount parses a decimal amount in major units ("1000", "1 000,50",
// "1000000.00") into minor units of currency. Digits beyond the currency's
// precision are rounded half away from zero.
func Amount(s, currency string) (int64, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\u00a0' || r == '\u202f' || r == '\'' || r == '_' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return 0, nil
	}
	if !strings.Contains(s, ".") && strings.Count(s, ",") == 1 {
		s = strings.Replace(s, ",", ".", 1)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a decimal amount", s)
	}
	exp := Exponent(currency)
	var n int64
	for _, d := range whole {
		if n > (math.MaxInt64/10)-9 {
			return 0, fmt.Errorf("amount %q too large", s)
		}
		n = n*10 + int64(d-'0')
	}
	for i := 0; i < exp; i++ {
		if n > (math.MaxInt64/10)-9 {
			return 0, fmt.Errorf("amount %q too large", s)
		}
		n *= 10
		if i < len(frac) {
			n += int64(frac[i] - '0')
		}
	}
	if len(frac) > exp && frac[exp] >= '5' {
		n++
	}
	if neg {
		n = -n
	}
	return n, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Exponent is the number of minor-unit digits of an ISO 4217 currency.
func Exponent(currency string) int {
	switch strings.ToUpper(currency) {
	case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XAF", "XOF", "XPF", "KMF", "GNF", "RWF", "DJF", "VUV", "BIF":
		return 0
	case "BHD", "KWD", "OMR", "JOD", "IQD", "LYD", "TND":
		return 3
	}
	return 2
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Phones normalises phone numbers dialled in region to E.164, dropping what
// is not a valid number: a contact card with one mistyped number still
// carries its deal and its other numbers.
func Phones(region string, raw ...string) []string {
	var out []string
	for _, r := range raw {
		if p, _ := pii.ParsePhone(r, region); p != "" {
			out = append(out, p)
		}
	}
	return dedup(out)
}

// Emails lower-cases e-mails, dropping what is not one.
func Emails(raw ...string) []string {
	var out []string
	for _, r := range raw {
		if e := strings.TrimSpace(r); pii.IsHash(e) {
			out = append(out, e)
		} else if e := event.NormalizeEmail(r); e != "" {
			out = append(out, e)
		}
	}
	return dedup(out)
}

func dedup(s []string) []string {
	if len(s) < 2 {
		return s
	}
	seen := make(map[string]bool, len(s))
	out := s[:0:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// Time parses a vendor time: Unix seconds or milliseconds (number or
// string), RFC 3339 / ISO 8601 with an offset, or "2006-01-02 15:04:05"
// (UTC). It returns Unix milliseconds, 0 for an empty value.
func Time(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n <= 0:
			return 0, fmt.Errorf("%q is not a time", s)
		case n < 100_000_000_000: // seconds until the year 5138
			return n * 1000, nil
		case n < 100_000_000_000_000:
			return n, nil
		}
		return 0, fmt.Errorf("%q is not a time", s)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 2000 || t.Year() > 2200 {
				return 0, fmt.Errorf("%q is out of range", s)
			}
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%q is not a time (Unix seconds or ISO 8601)", s)
}

// fieldMatches reports whether a custom field (id, code, name) is the one
// configured: by id or code exactly, by name ignoring case, spaces, "_" and "-".
func fieldMatches(want, id, code, name string) bool {
	if want == "" {
		return false
	}
	if want == id || strings.EqualFold(want, code) && code != "" {
		return true
	}
	return name != "" && squash(want) == squash(name)
}

func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
}

// defaultClientIDField and defaultCallIDField are matched when an account
// configures no field: custom fields named so carry the ids.
const (
	defaultClientIDField = "client_id"
	defaultCallIDField   = "call_id"
)

func (s Settings) clientIDField() string {
	if s.ClientIDField != "" {
		return s.ClientIDField
	}
	return defaultClientIDField
}

func (s Settings) callIDField() string {
	if s.CallIDField != "" {
		return s.CallIDField
	}
	return defaultCallIDField
}
