package crm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/throughline/throughline/pkg/event"

	"github.com/throughline/throughline/services/collector/internal/hooks/phpform"
)

// amoCRM's system statuses: the same ids in every pipeline.
const (
	amoWon  = "142" // «Успешно реализовано»
	amoLost = "143" // «Закрыто и не реализовано»
)

// ErrNotFound is what an API answers for an entity that no longer exists.
var ErrNotFound = errors.New("entity not found")

// AmoCRMAPI pulls leads from the account's amoCRM.
type AmoCRMAPI interface {
	// Lead returns GET /api/v4/leads/{id}?with=contacts,catalog_elements's body, or an error
	// wrapping ErrNotFound.
	Lead(ctx context.Context, id string) (json.RawMessage, error)
}

// AmoRequest is one amoCRM webhook delivery.
type AmoRequest struct {
	Subdomain string // account[subdomain]
	AccountID string // account[id]
	Items     []AmoItem
	Ignored   int // entities and actions Throughline does not map (companies, tasks, notes…)
	// Errors are items that could not be read (the others are still good)
	// and units fields that could not be read (their items are kept, without
	// units): the delivery is dead-lettered with them as its reason.
	Errors []error
}

// AmoItem is one lead or contact of a delivery.
type AmoItem struct {
	Change
	// Pull says the webhook carried only ids (a delete, or a webhook fired
	// from a pipeline stage): the lead's price, custom fields and change time
	// must come from the API.
	Pull bool
}

// ParseAmoCRM reads an amoCRM webhook: leads and contacts, any action, any
// index values, several groups per request. An item that cannot be read is
// reported in Errors and the rest are kept; an error is returned only when
// the body is not an amoCRM webhook at all.
func ParseAmoCRM(body []byte, s Settings) (*AmoRequest, error) {
	form, err := phpform.Parse(string(body), phpform.DefaultLimits)
	if err != nil {
		return nil, fieldErr("body", "%v", err)
	}
	req := &AmoRequest{Subdomain: form.Str("account", "subdomain"), AccountID: form.Str("account", "id")}
	seen := 0
	form.Each(func(entity string, actions *phpform.Value) {
		if entity == "account" {
			return
		}
		seen++
		if entity != "leads" && entity != "contacts" {
			req.Ignored += countItems(actions)
			return
		}
		actions.Each(func(action string, items *phpform.Value) {
			act, ok := amoAction(action)
			if !ok || !items.IsMap() {
				req.Ignored += max(items.Len(), 1)
				return
			}
			items.Each(func(idx string, item *phpform.Value) {
				where := entity + "[" + action + "][" + idx + "]"
				it, unitsErr, err := amoItem(entity, act, item, s)
				if unitsErr != nil {
					fe := AsFieldError("", unitsErr)
					req.Errors = append(req.Errors, fieldErr(where+"["+fe.Field+"]", "%s (kept without units)", fe.Reason))
				}
				if err != nil {
					fe := AsFieldError("", err)
					req.Errors = append(req.Errors, fieldErr(where+"["+fe.Field+"]", "%s", fe.Reason))
					return
				}
				req.Items = append(req.Items, it)
			})
		})
	})
	if seen == 0 || !form.Has("account") && !form.Has("leads") && !form.Has("contacts") {
		return nil, fieldErr("body", "not an amoCRM webhook: no leads[…] or contacts[…] fields")
	}
	return req, nil
}

func countItems(actions *phpform.Value) int {
	n := 0
	actions.Each(func(_ string, items *phpform.Value) { n += max(items.Len(), 1) })
	return max(n, 1)
}

func amoAction(a string) (string, bool) {
	switch a {
	case "add":
		return ActionAdd, true
	case "update", "restore", "responsible":
		return ActionUpdate, true
	case "status":
		return ActionStatus, true
	case "delete":
		return ActionDelete, true
	}
	return "", false // note and anything new
}

// amoItem reads one item; unitsErr is a units field it could not read (the
// item is good without units).
func amoItem(entity, action string, v *phpform.Value, s Settings) (it AmoItem, unitsErr, err error) {
	it, err = amoItemFields(entity, action, v, s)
	if err != nil || entity != "leads" || s.UnitsField == "" {
		return it, nil, err
	}
	if raw := amoCustomFields(v.Get("custom_fields")).first(s.UnitsField); raw != "" {
		n, err := FieldUnits(raw)
		if err != nil {
			return it, fieldErr("custom_fields", "units field %s: %v", s.UnitsField, err), nil
		}
		it.Units = n
	}
	return it, nil, nil
}

func amoItemFields(entity, action string, v *phpform.Value, s Settings) (AmoItem, error) {
	if !v.IsMap() {
		return AmoItem{}, fieldErr("id", "required")
	}
	id := strings.TrimSpace(v.Str("id"))
	if id == "" {
		return AmoItem{}, fieldErr("id", "required")
	}
	if !digits(id) || len(id) > 20 {
		return AmoItem{}, fieldErr("id", "%q is not an amoCRM id", truncate(id, 40))
	}
	it := AmoItem{}
	c := &it.CRM
	c.Provider, c.Action, c.Currency, c.Outcome = AmoCRM, action, s.Currency, OutcomeOpen
	updated, err := amoTime(v, action)
	if err != nil {
		return it, err
	}
	c.UpdatedAt = updated
	fields := amoCustomFields(v.Get("custom_fields"))
	c.ClientID = fields.first(s.clientIDField())
	c.CallID = fields.first(s.callIDField())
	if entity == "contacts" {
		c.Entity, c.ContactID = EntityContact, id
		c.Phones = Phones(s.Region, fields.byCode("PHONE", "телефон", "phone", "мобильный")...)
		c.Emails = Emails(fields.byCode("EMAIL", "email", "e-mail", "почта")...)
		c.LeadID = firstLinked(v.Get("linked_leads_id"))
		return it, Validate(c)
	}
	// amoCRM's lead (сделка) is both the lead and the deal: it carries the
	// pipeline, the status and the price.
	c.Entity, c.LeadID, c.DealID = EntityLead, id, id
	c.Pipeline = strings.TrimSpace(v.Str("pipeline_id"))
	c.Stage = strings.TrimSpace(v.Str("status_id"))
	c.Outcome = s.amoOutcome(c.Stage)
	if v.Has("price") {
		n, err := Amount(v.Str("price"), s.Currency)
		if err != nil {
			return it, fieldErr("price", "%v", err)
		}
		if n < 0 {
			return it, fieldErr("price", "negative")
		}
		c.Amount = n
	}
	if cid := firstLinked(v.Get("contacts")); cid != "" {
		c.ContactID = cid
	}
	// A delete or a pipeline-stage webhook carries only ids and statuses.
	// Webhooks never carry a lead's catalog elements: a won lead is pulled
	// for them when the account counts units from a catalog.
	it.Pull = action != ActionDelete && (c.UpdatedAt == 0 || !v.Has("price") ||
		s.UnitsCatalog != "" && s.UnitsField == "" && c.Outcome == OutcomeWon)
	return it, Validate(c)
}

// ResolveAmoCRM completes a delivery's changes: leads that came with ids
// only are pulled through api (when the account configured one). A lead the
// API no longer has keeps what the webhook said. Changes without a vendor
// time get body's digest as seed. Pulls that failed are returned as errors;
// the other changes are good.
func ResolveAmoCRM(ctx context.Context, req *AmoRequest, api AmoCRMAPI, s Settings, body []byte) ([]Change, []error) {
	var (
		out  []Change
		errs []error
	)
	for i := range req.Items {
		it := req.Items[i]
		if it.Pull && api != nil {
			raw, err := api.Lead(ctx, it.LeadID)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				errs = append(errs, fmt.Errorf("lead %s: %w", it.LeadID, err))
				continue
			default:
				if err := MergeAmoLead(&it, raw, s); err != nil {
					errs = append(errs, fmt.Errorf("lead %s: %w", it.LeadID, err))
					continue
				}
			}
		}
		if it.UpdatedAt == 0 {
			it.Seed = PayloadSeed(body)
		}
		out = append(out, it.Change)
	}
	return out, errs
}

// amoTime is the item's change time: updated_at, else last_modified, else
// (for a new entity) its creation time.
func amoTime(v *phpform.Value, action string) (int64, error) {
	keys := []string{"updated_at", "last_modified"}
	if action == ActionAdd {
		keys = append(keys, "created_at", "date_create")
	}
	for _, k := range keys {
		if raw := v.Str(k); raw != "" {
			ts, err := Time(raw)
			if err != nil {
				return 0, fieldErr(k, "%v", err)
			}
			if ts > 0 {
				return ts, nil
			}
		}
	}
	return 0, nil
}

func (s Settings) amoOutcome(status string) string {
	if len(s.WonStages) > 0 || len(s.LostStages) > 0 {
		return s.Outcome(status, OutcomeOpen)
	}
	switch status {
	case amoWon:
		return OutcomeWon
	case amoLost:
		return OutcomeLost
	}
	return OutcomeOpen
}

// customField is one amoCRM custom field with its values.
type customField struct {
	id, code, name string
	values         []string
}

type customFields []customField

// amoCustomFields reads custom_fields[k][id|name|code][values][m][value] —
// and the date form custom_fields[k][values][m]=<unix>, without [value].
func amoCustomFields(v *phpform.Value) customFields {
	var out customFields
	v.Each(func(_ string, f *phpform.Value) {
		cf := customField{id: f.Str("id"), code: f.Str("code"), name: f.Str("name")}
		f.Get("values").Each(func(_ string, val *phpform.Value) {
			s := val.String()
			if val.IsMap() {
				s = val.Str("value")
			}
			if s = strings.TrimSpace(s); s != "" {
				cf.values = append(cf.values, s)
			}
		})
		if len(cf.values) > 0 {
			out = append(out, cf)
		}
	})
	return out
}

// first returns the first value of the field configured as want.
func (fs customFields) first(want string) string {
	for _, f := range fs {
		if fieldMatches(want, f.id, f.code, f.name) {
			return f.values[0]
		}
	}
	return ""
}

// byCode returns every value of fields with the code, or named one of names.
func (fs customFields) byCode(code string, names ...string) []string {
	var out []string
	for _, f := range fs {
		match := strings.EqualFold(f.code, code)
		for _, n := range names {
			match = match || f.code == "" && strings.Contains(strings.ToLower(f.name), n)
		}
		if match {
			out = append(out, f.values...)
		}
	}
	return out
}

// firstLinked reads an id from linked_leads_id / contacts in the shapes seen:
// [k]=<id>, [<id>]=<id> and [k][id]=<id>.
func firstLinked(v *phpform.Value) string {
	var id string
	v.Each(func(k string, val *phpform.Value) {
		if id != "" {
			return
		}
		s := val.String()
		if val.IsMap() {
			s = val.Str("id")
		}
		if s = strings.TrimSpace(s); digits(s) && s != "" {
			id = s
		} else if digits(k) && k != "0" && s == "" {
			id = k
		}
	})
	return id
}

// amoLead is the part of GET /api/v4/leads/{id} Throughline reads.
type amoLead struct {
	ID                 json.Number `json:"id"`
	Price              json.Number `json:"price"`
	StatusID           json.Number `json:"status_id"`
	PipelineID         json.Number `json:"pipeline_id"`
	UpdatedAt          json.Number `json:"updated_at"`
	CustomFieldsValues []struct {
		FieldID   json.Number `json:"field_id"`
		FieldName string      `json:"field_name"`
		FieldCode string      `json:"field_code"`
		Values    []struct {
			Value any `json:"value"`
		} `json:"values"`
	} `json:"custom_fields_values"`
	Embedded struct {
		Contacts []struct {
			ID     json.Number `json:"id"`
			IsMain bool        `json:"is_main"`
		} `json:"contacts"`
		// with=catalog_elements: the list elements linked to the lead, each
		// with the link's quantity and its catalog.
		CatalogElements []struct {
			ID       json.Number `json:"id"`
			Metadata struct {
				Quantity  any         `json:"quantity"`
				CatalogID json.Number `json:"catalog_id"`
			} `json:"metadata"`
		} `json:"catalog_elements"`
	} `json:"_embedded"`
}

// MergeAmoLead fills a lead change from the API's answer: the API's state is
// the lead's state at its updated_at, which becomes the change time.
func MergeAmoLead(it *AmoItem, body json.RawMessage, s Settings) error {
	var l amoLead
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&l); err != nil {
		return fmt.Errorf("decoding amoCRM lead: %w", err)
	}
	c := &it.CRM
	if got := l.ID.String(); got != "" && got != c.LeadID {
		return fmt.Errorf("amoCRM answered lead %s for lead %s", got, c.LeadID)
	}
	if v := l.StatusID.String(); v != "" {
		c.Stage = v
		c.Outcome = s.amoOutcome(v)
	}
	if v := l.PipelineID.String(); v != "" {
		c.Pipeline = v
	}
	if v := l.Price.String(); v != "" {
		n, err := Amount(v, s.Currency)
		if err != nil || n < 0 {
			return fmt.Errorf("amoCRM lead price %q: not an amount", v)
		}
		c.Amount = n
	}
	if v := l.UpdatedAt.String(); v != "" {
		ts, err := Time(v)
		if err != nil {
			return fmt.Errorf("amoCRM lead updated_at: %w", err)
		}
		c.UpdatedAt = ts
	}
	var fields customFields
	for _, f := range l.CustomFieldsValues {
		cf := customField{id: f.FieldID.String(), code: f.FieldCode, name: f.FieldName}
		for _, v := range f.Values {
			if s := strings.TrimSpace(fmt.Sprint(v.Value)); v.Value != nil && s != "" {
				cf.values = append(cf.values, s)
			}
		}
		if len(cf.values) > 0 {
			fields = append(fields, cf)
		}
	}
	if v := fields.first(s.clientIDField()); v != "" {
		c.ClientID = v
	}
	if v := fields.first(s.callIDField()); v != "" {
		c.CallID = v
	}
	if err := amoUnits(c, &l, fields, s); err != nil {
		return err
	}
	for i, ct := range l.Embedded.Contacts {
		if ct.IsMain || i == 0 && c.ContactID == "" {
			c.ContactID = ct.ID.String()
		}
	}
	it.Pull = false
	return Validate(c)
}

// amoUnits sets a pulled lead's units: the configured units field, else
// the quantities of its elements of the configured catalog.
func amoUnits(c *event.CRM, l *amoLead, fields customFields, s Settings) error {
	if s.UnitsField != "" {
		if raw := fields.first(s.UnitsField); raw != "" {
			n, err := FieldUnits(raw)
			if err != nil {
				return fmt.Errorf("amoCRM lead units field %s: %w", s.UnitsField, err)
			}
			c.Units = n
		}
		return nil
	}
	if s.UnitsCatalog == "" {
		return nil
	}
	if len(l.Embedded.CatalogElements) > MaxItems {
		return fmt.Errorf("amoCRM lead has more than %d catalog elements", MaxItems)
	}
	var qs []float64
	for i, el := range l.Embedded.CatalogElements {
		if s.UnitsCatalog != "*" && el.Metadata.CatalogID.String() != s.UnitsCatalog {
			continue
		}
		q, err := jsonQuantity(el.Metadata.Quantity)
		if err != nil {
			return fmt.Errorf("amoCRM lead catalog_elements[%d].metadata.quantity: %w", i, err)
		}
		qs = append(qs, q)
	}
	n, err := sumUnits("catalog_elements", qs)
	if err != nil {
		return fmt.Errorf("amoCRM lead: %w", err)
	}
	c.Units = n
	return nil
}

// jsonQuantity reads a quantity sent as a number or a string; absent
// (null) is 1, as a linked element without a quantity is one item.
func jsonQuantity(v any) (float64, error) {
	switch q := v.(type) {
	case nil:
		return 1, nil
	case json.Number:
		return Quantity(q.String())
	case float64:
		return Quantity(strconv.FormatFloat(q, 'g', -1, 64))
	case string:
		return Quantity(q)
	}
	return 0, fmt.Errorf("%v is not a quantity", v)
}

// AmoSubdomain is the account subdomain of an amoCRM base URL
// ("https://acme.amocrm.ru" → "acme"); "" when it has none.
func AmoSubdomain(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return ""
	}
	if i := strings.IndexByte(host, '.'); i > 0 && strings.Count(host, ".") >= 2 {
		return strings.ToLower(host[:i])
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
