package crm

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/throughline/throughline/services/collector/internal/hooks/phpform"
)

// Bitrix24API pulls CRM entities from a Bitrix24 portal's REST endpoint.
type Bitrix24API interface {
	// Get calls method (crm.deal.get, crm.lead.get, crm.contact.get) for id
	// and returns its "result" object, or an error wrapping ErrNotFound.
	Get(ctx context.Context, method, id string) (json.RawMessage, error)
	// List calls method for id and returns its "result" list
	// (crm.deal.productrows.get), or an error wrapping ErrNotFound.
	List(ctx context.Context, method, id string) (json.RawMessage, error)
}

// Permanent is implemented by pull errors that retrying will not cure
// (a method the portal does not have, missing scope).
type Permanent interface{ IsPermanent() bool }

// BitrixEvent is one Bitrix24 outbound event: only the entity's id, the
// event time and the sender's credentials.
type BitrixEvent struct {
	Name     string // ONCRMDEALUPDATE, …
	Entity   string // lead, deal, contact; "" for events Throughline does not map
	Action   string // add, update, delete
	ID       string
	TS       int64  // the event's ts, Unix ms; 0 when absent
	Domain   string // auth[domain]
	AppToken string // auth[application_token]
}

// Redacted is what replaces credentials in payloads kept as dead letters.
const Redacted = "REDACTED"

// ParseBitrix24 reads a Bitrix24 event. Events of other entities (companies,
// invoices, smart processes…) parse with an empty Entity.
func ParseBitrix24(body []byte) (*BitrixEvent, error) {
	form, err := phpform.Parse(string(body), phpform.DefaultLimits)
	if err != nil {
		return nil, fieldErr("body", "%v", err)
	}
	ev := &BitrixEvent{
		Name:     strings.ToUpper(strings.TrimSpace(form.Str("event"))),
		Domain:   form.Str("auth", "domain"),
		AppToken: form.Str("auth", "application_token"),
	}
	if ev.Name == "" {
		return nil, fieldErr("event", "required: not a Bitrix24 event")
	}
	if raw := form.Str("ts"); raw != "" {
		ts, err := Time(raw)
		if err != nil {
			return nil, fieldErr("ts", "%v", err)
		}
		ev.TS = ts
	}
	ev.Entity, ev.Action = bitrixEventKind(ev.Name)
	if ev.Entity == "" {
		return ev, nil
	}
	ev.ID = strings.TrimSpace(form.Str("data", "FIELDS", "ID"))
	if ev.ID == "" {
		return nil, fieldErr("data[FIELDS][ID]", "required")
	}
	if !digits(ev.ID) || len(ev.ID) > 20 {
		return nil, fieldErr("data[FIELDS][ID]", "%q is not a Bitrix24 id", truncate(ev.ID, 40))
	}
	return ev, nil
}

// bitrixEventKind maps ONCRM<ENTITY><ACTION> to an entity and an action.
func bitrixEventKind(name string) (entity, action string) {
	rest, ok := strings.CutPrefix(name, "ONCRM")
	if !ok {
		return "", ""
	}
	for _, e := range []struct{ prefix, entity string }{{"DEAL", EntityDeal}, {"LEAD", EntityLead}, {"CONTACT", EntityContact}} {
		a, ok := strings.CutPrefix(rest, e.prefix)
		if !ok {
			continue
		}
		switch a {
		case "ADD":
			return e.entity, ActionAdd
		case "UPDATE":
			return e.entity, ActionUpdate
		case "DELETE":
			return e.entity, ActionDelete
		}
	}
	return "", ""
}

// TokenMatches compares the event's application token with the account's in
// constant time.
func (ev *BitrixEvent) TokenMatches(want string) bool {
	if want == "" || ev.AppToken == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ev.AppToken), []byte(want)) == 1
}

// RedactBitrix24 returns body with the credentials Bitrix24 sends —
// the application token and any OAuth keys — replaced by Redacted, for
// keeping the payload as a dead letter.
func RedactBitrix24(body []byte) []byte {
	parts := bytes.Split(body, []byte("&"))
	for i, p := range parts {
		k, _, ok := bytes.Cut(p, []byte("="))
		if !ok {
			continue
		}
		key := strings.ToLower(unescapeKey(string(k)))
		if strings.HasPrefix(key, "auth[") && (strings.Contains(key, "token") || strings.Contains(key, "secret")) {
			parts[i] = append(append([]byte{}, k...), []byte("="+Redacted)...)
		}
	}
	return bytes.Join(parts, []byte("&"))
}

func unescapeKey(k string) string {
	if u, err := url.QueryUnescape(k); err == nil {
		return u
	}
	return k
}

// ResolveBitrix24 turns an event into a change: deletes as they are (ids
// only), everything else by pulling the entity through api.
func ResolveBitrix24(ctx context.Context, ev *BitrixEvent, api Bitrix24API, s Settings) (Change, error) {
	ch := Change{}
	c := &ch.CRM
	c.Provider, c.Entity, c.Action, c.Outcome = Bitrix24, ev.Entity, ev.Action, OutcomeOpen
	switch ev.Entity {
	case EntityDeal:
		c.DealID = ev.ID
	case EntityLead:
		c.LeadID = ev.ID
	default:
		c.ContactID = ev.ID
	}
	if ev.Action == ActionDelete {
		c.UpdatedAt = ev.TS
		return ch, Validate(c)
	}
	raw, err := api.Get(ctx, "crm."+ev.Entity+".get", ev.ID)
	if err != nil {
		return ch, fmt.Errorf("fetching %s %s: %w", ev.Entity, ev.ID, err)
	}
	if err := MapBitrix24(&ch, raw, s); err != nil {
		return ch, err
	}
	if c.UpdatedAt == 0 {
		c.UpdatedAt = ev.TS
	}
	// A won deal's units are its product rows' quantities (one more pull,
	// only for won deals: units count only there).
	if c.Entity == EntityDeal && c.Outcome == OutcomeWon && s.UnitsField == "" {
		rows, err := api.List(ctx, "crm.deal.productrows.get", ev.ID)
		var perm Permanent
		switch {
		case errors.Is(err, ErrNotFound):
		case errors.As(err, &perm) && perm.IsPermanent():
			ch.UnitsNote = "crm.deal.productrows.get: " + err.Error()
		case err != nil:
			return ch, fmt.Errorf("fetching product rows of deal %s: %w", ev.ID, err)
		default:
			if c.Units, err = BitrixRowsUnits(rows); err != nil {
				return ch, err
			}
		}
	}
	return ch, Validate(c)
}

// BitrixRowsUnits sums the QUANTITY of crm.deal.productrows.get's rows
// (numbers or decimal strings).
func BitrixRowsUnits(raw json.RawMessage) (float64, error) {
	var rows []any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		return 0, fieldErr("productrows", "not a list of product rows: %s", jsonReason(err))
	}
	if len(rows) > MaxItems {
		return 0, fieldErr("productrows", "more than %d product rows", MaxItems)
	}
	qs := make([]float64, 0, len(rows))
	for i, row := range rows {
		r, ok := row.(map[string]any)
		if !ok {
			continue
		}
		raw := bitrixString(r["QUANTITY"])
		if raw == "" {
			raw = bitrixString(r["quantity"])
		}
		if raw == "" {
			continue
		}
		q, err := Quantity(raw)
		if err != nil {
			return 0, fieldErr(fmt.Sprintf("productrows[%d].QUANTITY", i), "%v", err)
		}
		qs = append(qs, q)
	}
	return sumUnits("productrows", qs)
}

// MapBitrix24 fills a change from a crm.*.get result.
func MapBitrix24(ch *Change, raw json.RawMessage, s Settings) error {
	var f map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("decoding bitrix24 %s: %w", ch.Entity, err)
	}
	if f == nil {
		return fmt.Errorf("bitrix24 answered no %s", ch.Entity)
	}
	c := &ch.CRM
	get := func(k string) string { return bitrixString(f[k]) }
	if id := get("ID"); id != "" && id != entityID(c) {
		return fmt.Errorf("bitrix24 answered %s %s for %s", ch.Entity, id, entityID(c))
	}
	c.Currency = strings.ToUpper(get("CURRENCY_ID"))
	if c.Currency == "" {
		c.Currency = s.Currency
	}
	if v := get("OPPORTUNITY"); v != "" {
		n, err := Amount(v, c.Currency)
		if err != nil || n < 0 {
			return fmt.Errorf("bitrix24 OPPORTUNITY %q: not an amount", v)
		}
		c.Amount = n
	}
	if v := get("DATE_MODIFY"); v != "" {
		ts, err := Time(v)
		if err != nil {
			return fmt.Errorf("bitrix24 DATE_MODIFY: %w", err)
		}
		c.UpdatedAt = ts
	}
	c.ClientID = bitrixField(f, s.ClientIDField, "UF_CRM_CLIENT_ID")
	c.CallID = bitrixField(f, s.CallIDField, "UF_CRM_CALL_ID")
	if s.UnitsField != "" && c.Entity == EntityDeal {
		if raw := bitrixField(f, s.UnitsField, ""); raw != "" {
			if n, err := FieldUnits(raw); err != nil {
				ch.UnitsNote = "units field " + s.UnitsField + ": " + err.Error()
			} else {
				c.Units = n
			}
		}
	}
	c.Phones = Phones(s.Region, bitrixMulti(f["PHONE"])...)
	c.Emails = Emails(bitrixMulti(f["EMAIL"])...)
	switch c.Entity {
	case EntityDeal:
		c.LeadID = nonZero(get("LEAD_ID"))
		c.ContactID = nonZero(get("CONTACT_ID"))
		c.Pipeline = get("CATEGORY_ID")
		c.Stage = get("STAGE_ID")
		c.Outcome = s.bitrixOutcome(get("STAGE_SEMANTIC_ID"), c.Stage, []string{"WON"}, []string{"LOSE", "APOLOGY"})
	case EntityLead:
		c.ContactID = nonZero(get("CONTACT_ID"))
		c.Stage = get("STATUS_ID")
		c.Outcome = s.bitrixOutcome(get("STATUS_SEMANTIC_ID"), c.Stage, []string{"CONVERTED"}, []string{"JUNK"})
	case EntityContact:
		c.LeadID = nonZero(get("LEAD_ID"))
	}
	return Validate(c)
}

// bitrixOutcome prefers the stage's semantics (S success, F failure,
// P in progress) over its id: configured stage lists, then the defaults.
func (s Settings) bitrixOutcome(semantic, stage string, won, lost []string) string {
	switch strings.ToUpper(semantic) {
	case "S":
		return OutcomeWon
	case "F":
		return OutcomeLost
	case "P":
		return OutcomeOpen
	}
	if o := s.Outcome(stage, ""); o != "" {
		return o
	}
	// Pipelines other than the first prefix their stages: "C3:WON".
	bare := stage
	if i := strings.LastIndexByte(stage, ':'); i >= 0 {
		bare = stage[i+1:]
	}
	switch {
	case contains(won, bare):
		return OutcomeWon
	case contains(lost, bare):
		return OutcomeLost
	}
	return OutcomeOpen
}

// bitrixField reads a custom (UF_CRM_*) field: configured, else def; a
// multiple field gives its first value.
func bitrixField(f map[string]any, want, def string) string {
	if want == "" {
		want = def
	}
	for k, v := range f {
		if strings.EqualFold(k, want) {
			if vals := bitrixMulti(v); len(vals) > 0 {
				return strings.TrimSpace(vals[0])
			}
			return strings.TrimSpace(bitrixString(v))
		}
	}
	return ""
}

// bitrixMulti reads a multi-field: [{"VALUE": "..."}, …] or ["…", …].
func bitrixMulti(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	var out []string
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			item = m["VALUE"]
		}
		if s := bitrixString(item); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// bitrixString reads a scalar the REST API may send as a string, a number,
// a boolean or null.
func bitrixString(v any) string {
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t)
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "Y"
		}
		return "N"
	}
	return ""
}

func nonZero(id string) string {
	if id == "0" {
		return ""
	}
	return id
}
