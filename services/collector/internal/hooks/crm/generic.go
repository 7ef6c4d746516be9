package crm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// MaxGenericChanges bounds the changes of one generic request.
const MaxGenericChanges = 1000

// genericChange is one change in Throughline's documented CRM JSON
// (docs/webhooks/generic-crm.md).
type genericChange struct {
	Entity      string      `json:"entity"`
	Action      string      `json:"action"`
	LeadID      flexString  `json:"lead_id"`
	DealID      flexString  `json:"deal_id"`
	ContactID   flexString  `json:"contact_id"`
	Pipeline    flexString  `json:"pipeline"`
	Stage       flexString  `json:"stage"`
	Outcome     string      `json:"outcome"`
	Amount      *flexString `json:"amount"`       // major units, "1500.50" or 1500.5
	AmountMinor *int64      `json:"amount_minor"` // or minor units
	Currency    string      `json:"currency"`
	Phone       string      `json:"phone"`
	Phones      []string    `json:"phones"`
	Email       string      `json:"email"`
	Emails      []string    `json:"emails"`
	ClientID    string      `json:"client_id"`
	CallID      flexString  `json:"call_id"`
	UpdatedAt   flexString  `json:"updated_at"`
	// Units sold: the deal's quantity, or its line items (each with a
	// quantity, summed); not both.
	Quantity *flexString   `json:"quantity"`
	Items    []genericItem `json:"items"`
}

// genericItem is one line item of a deal. Only the quantity counts; the
// other fields are accepted so an export of line items can be sent as is.
type genericItem struct {
	Quantity  *flexString `json:"quantity"`
	Name      string      `json:"name"`
	SKU       flexString  `json:"sku"`
	ProductID flexString  `json:"product_id"`
	Price     *flexString `json:"price"`
}

// MaxItems bounds a deal's line items.
const MaxItems = 1000

// Quantity parses a quantity: a number, or a string with a decimal comma
// or point ("2", "1,5", " 3.0 ").
func Quantity(s string) (float64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), ",", ".")
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" || strings.ContainsAny(t, "xXpPnNiI_") {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < 0 || v > MaxUnits {
		return 0, fmt.Errorf("%v is not a quantity from 0 to %v", v, MaxUnits)
	}
	return v, nil
}

// units sums the quantity or the line items of a change.
func (g *genericChange) units() (float64, error) {
	switch {
	case g.Quantity != nil && g.Items != nil:
		return 0, fieldErr("quantity", "give quantity or items, not both")
	case g.Quantity != nil:
		v, err := Quantity(string(*g.Quantity))
		if err != nil {
			return 0, fieldErr("quantity", "%v", err)
		}
		return v, nil
	}
	if len(g.Items) > MaxItems {
		return 0, fieldErr("items", "more than %d line items", MaxItems)
	}
	var sum float64
	for i, it := range g.Items {
		if it.Quantity == nil {
			return 0, fieldErr(fmt.Sprintf("items[%d].quantity", i), "required")
		}
		v, err := Quantity(string(*it.Quantity))
		if err != nil {
			return 0, fieldErr(fmt.Sprintf("items[%d].quantity", i), "%v", err)
		}
		sum += v
	}
	if sum > MaxUnits {
		return 0, fieldErr("items", "%v units in all, more than %v", sum, MaxUnits)
	}
	return sum, nil
}

// flexString accepts a JSON string or number (ids and amounts come as both).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(strings.TrimSpace(s))
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = flexString(n.String())
	default:
		return &json.UnmarshalTypeError{Value: "non-scalar", Type: reflect.TypeFor[string]()}
	}
	return nil
}

// ParseGeneric decodes a generic CRM request: one change object, an array
// of them, or {"changes": [...]}. Unknown fields are rejected so that a typo
// does not lose data silently.
func ParseGeneric(body []byte, s Settings) ([]Change, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, fieldErr("body", "empty")
	}
	var raws []json.RawMessage
	prefix := "changes"
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, fieldErr("body", "not a JSON array of changes: %v", jsonReason(err))
		}
	case '{':
		var wrap struct {
			Changes []json.RawMessage `json:"changes"`
		}
		if json.Unmarshal(body, &wrap) == nil && wrap.Changes != nil {
			raws = wrap.Changes
		} else {
			raws, prefix = []json.RawMessage{body}, ""
		}
	default:
		return nil, fieldErr("body", "not JSON: want a change object, an array or {\"changes\":[...]}")
	}
	if len(raws) == 0 {
		return nil, fieldErr("changes", "no change")
	}
	if len(raws) > MaxGenericChanges {
		return nil, fieldErr("changes", "more than %d changes", MaxGenericChanges)
	}
	out := make([]Change, 0, len(raws))
	for i, raw := range raws {
		where := ""
		if prefix != "" {
			where = prefix + "[" + strconv.Itoa(i) + "]."
		}
		ch, err := parseGenericChange(raw, s)
		if err != nil {
			fe := AsFieldError("body", err)
			return nil, fieldErr(where+fe.Field, "%s", fe.Reason)
		}
		out = append(out, ch)
	}
	return out, nil
}

func parseGenericChange(raw json.RawMessage, s Settings) (Change, error) {
	var g genericChange
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Change{}, fieldErr(te.Field, "wrong type: want a %s", jsonType(te.Type.Kind()))
		}
		msg := jsonReason(err)
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return Change{}, fieldErr(strings.Trim(f, `"`), "unknown field")
		}
		return Change{}, fieldErr("body", "%s", msg)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Change{}, fieldErr("body", "trailing data after the change")
	}
	c := Change{}
	c.Provider = Generic
	c.Entity = strings.ToLower(strings.TrimSpace(g.Entity))
	switch c.Entity {
	case EntityLead, EntityDeal, EntityContact:
	case "":
		return c, fieldErr("entity", "required: lead, deal or contact")
	default:
		return c, fieldErr("entity", "%q is not lead, deal or contact", g.Entity)
	}
	c.Action = strings.ToLower(strings.TrimSpace(g.Action))
	switch c.Action {
	case "":
		c.Action = ActionUpdate
	case ActionAdd, ActionUpdate, ActionStatus, ActionDelete:
	default:
		return c, fieldErr("action", "%q is not add, update, status or delete", g.Action)
	}
	c.LeadID, c.DealID, c.ContactID = string(g.LeadID), string(g.DealID), string(g.ContactID)
	if entityID(&c.CRM) == "" {
		return c, fieldErr(c.Entity+"_id", "required for a %s", c.Entity)
	}
	c.Pipeline, c.Stage = string(g.Pipeline), string(g.Stage)
	c.Currency = strings.ToUpper(strings.TrimSpace(g.Currency))
	if c.Currency == "" {
		c.Currency = s.Currency
	} else if !isCurrency(c.Currency) {
		return c, fieldErr("currency", "%q is not an ISO 4217 code", g.Currency)
	}
	switch o := strings.ToLower(strings.TrimSpace(g.Outcome)); o {
	case OutcomeOpen, OutcomeWon, OutcomeLost:
		c.Outcome = o
	case "":
		c.Outcome = s.Outcome(c.Stage, OutcomeOpen)
	default:
		return c, fieldErr("outcome", "%q is not open, won or lost", g.Outcome)
	}
	switch {
	case g.Amount != nil && g.AmountMinor != nil:
		return c, fieldErr("amount", "give amount or amount_minor, not both")
	case g.AmountMinor != nil:
		if *g.AmountMinor < 0 {
			return c, fieldErr("amount_minor", "negative")
		}
		c.Amount = *g.AmountMinor
	case g.Amount != nil:
		n, err := Amount(string(*g.Amount), c.Currency)
		if err != nil {
			return c, fieldErr("amount", "%v", err)
		}
		if n < 0 {
			return c, fieldErr("amount", "negative")
		}
		c.Amount = n
	}
	units, err := g.units()
	if err != nil {
		return c, err
	}
	c.Units = units
	c.Phones = Phones(s.Region, append(g.Phones, g.Phone)...)
	c.Emails = Emails(append(g.Emails, g.Email)...)
	c.ClientID = strings.TrimSpace(g.ClientID)
	c.CallID = string(g.CallID)
	if g.UpdatedAt == "" {
		return c, fieldErr("updated_at", "required: the CRM's change time, RFC 3339 or Unix milliseconds")
	}
	ts, err := Time(string(g.UpdatedAt))
	if err != nil {
		return c, fieldErr("updated_at", "%v", err)
	}
	c.UpdatedAt = ts
	if err := Validate(&c.CRM); err != nil {
		return c, err
	}
	return c, nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return err.Error()
}

func jsonType(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string (or a number)"
	case reflect.Slice:
		return "array"
	case reflect.Int64, reflect.Int:
		return "integer"
	}
	return k.String()
}
