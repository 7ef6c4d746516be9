package crm

import (
	"fmt"
	"strings"
)

// Megaplan is Megaplan's deals (API v3 webhooks).
const Megaplan = "megaplan"

// ParseMegaplan reads one Megaplan webhook (docs/webhooks/megaplan.md): a
// JSON object {"event", "model", "data"} where model names the entity and
// data is the entity as the API v3 writes it. Deals are read; a model (or
// data.contentType) naming another entity is ignored (nil, nil); without
// either, the delivery is taken for a deal, as in Megaplan's example. The deal's state is won when its type says
// success (positive/success/won), lost when failure (negative/failure/lost),
// else the configured stages decide, else open.
func ParseMegaplan(body []byte, s Settings) ([]Change, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	model := strings.ToLower(o.str("model", "entity", "contentType"))
	data := o.object("data", "deal", "entity")
	if data == nil {
		return nil, fieldErr("data", "required: the deal")
	}
	if model == "" {
		model = strings.ToLower(data.str("contentType"))
	}
	if model != "" && model != "deal" {
		return nil, nil // another stream: contractors, tasks, ...
	}
	ev := strings.ToLower(o.str("event", "action", "eventName"))
	c := Change{}
	c.Provider, c.Entity = Megaplan, EntityDeal
	switch {
	case strings.Contains(ev, "delet") || strings.Contains(ev, "drop"):
		c.Action = ActionDelete
	case strings.Contains(ev, "creat") || strings.Contains(ev, "add"):
		c.Action = ActionAdd
	default:
		c.Action = ActionUpdate
	}
	if c.DealID = data.str("id", "Id"); c.DealID == "" {
		return nil, fieldErr("data.id", "required: the deal's id")
	}
	if prog := data.object("program", "Program"); prog != nil {
		c.Pipeline = prog.str("id", "name")
	}
	c.Outcome = OutcomeOpen
	if st := data.object("state", "status", "State"); st != nil {
		c.Stage = st.str("id", "name")
		switch strings.ToLower(st.str("type", "stateType", "category")) {
		case "positive", "success", "successful", "won", "win":
			c.Outcome = OutcomeWon
		case "negative", "failure", "failed", "lost", "lose", "fail":
			c.Outcome = OutcomeLost
		default:
			c.Outcome = s.Outcome(c.Stage, s.Outcome(st.str("name"), OutcomeOpen))
		}
	} else if st := data.str("state", "status"); st != "" {
		c.Stage = st
		c.Outcome = s.Outcome(st, OutcomeOpen)
	}
	c.Currency = s.Currency
	amount := ""
	if price := data.object("price", "cost", "amount"); price != nil {
		amount = price.str("value", "amount")
		if cur := strings.ToUpper(price.str("currency", "currencyCode")); isCurrency(cur) {
			c.Currency = cur
		}
	} else {
		amount = data.str("price", "cost", "amount")
	}
	if c.Amount, err = Amount(amount, c.Currency); err != nil {
		return nil, fieldErr("data.price", "%v", err)
	}
	if c.Units, err = megaplanUnits(data); err != nil {
		return nil, err
	}
	if who := data.object("contractor", "client", "contact"); who != nil {
		c.ContactID = who.str("id")
		readContactInfo(&c, who.lookup("contactInfo"), s.Region)
		for _, k := range []string{"phones", "phone"} {
			c.Phones = append(c.Phones, Phones(s.Region, strs(who.lookup(k))...)...)
		}
		for _, k := range []string{"emails", "email"} {
			c.Emails = append(c.Emails, Emails(strs(who.lookup(k))...)...)
		}
	}
	c.ClientID = megaplanCustom(data, s.clientIDField(), "tlclientid")
	c.CallID = megaplanCustom(data, s.callIDField(), "tlcallid")
	// A configured units field wins over the positions (megaplanUnits).
	if s.UnitsField != "" {
		c.fieldOrItems(s, func(name string) string { return megaplanCustom(data, name, squash(name)) }, nil)
	}
	if c.UpdatedAt, err = Time(data.str("timeUpdated", "updated", "timeCreated", "created")); err != nil {
		return nil, fieldErr("data.timeUpdated", "%v", err)
	}
	if c.UpdatedAt == 0 {
		c.Seed = PayloadSeed(body) // a repeated delivery keeps its id
	}
	if err := Validate(&c.CRM); err != nil {
		return nil, err
	}
	return []Change{c}, nil
}

// megaplanUnits reads the units sold of a deal: the sum of its positions'
// quantities (the first present of positions, offerRows, products, items;
// each {quantity|count|qty}, typed wrappers unwrapped), else a plain
// quantity on the deal; 0 when neither is there. Megaplan's webhook
// example shows neither, so these are the plausible spellings.
func megaplanUnits(data vendorObject) (float64, error) {
	for _, key := range []string{"positions", "offerRows", "products", "items"} {
		rows, ok := data.lookup(key).([]any)
		if !ok {
			continue
		}
		if len(rows) > MaxItems {
			return 0, fieldErr("data."+key, "more than %d positions", MaxItems)
		}
		var sum float64
		for i, r := range rows {
			m, _ := r.(map[string]any)
			q := vendorObject(m).str("quantity", "count", "qty")
			if q == "" {
				return 0, fieldErr(fmt.Sprintf("data.%s[%d].quantity", key, i), "required")
			}
			v, err := Quantity(q)
			if err != nil {
				return 0, fieldErr(fmt.Sprintf("data.%s[%d].quantity", key, i), "%v", err)
			}
			sum += v
		}
		if sum > MaxUnits {
			return 0, fieldErr("data."+key, "%v units in all, more than %v", sum, MaxUnits)
		}
		return sum, nil
	}
	if q := data.str("quantity"); q != "" {
		v, err := Quantity(q)
		if err != nil {
			return 0, fieldErr("data.quantity", "%v", err)
		}
		return v, nil
	}
	return 0, nil
}

// readContactInfo reads Megaplan's contactInfo list: [{type, value}] with
// type phone/email (and mobile, work, … variants).
func readContactInfo(c *Change, v any, region string) {
	items, _ := v.([]any)
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		o := vendorObject(m)
		val := o.str("value")
		switch t := strings.ToLower(o.str("type")); {
		case strings.Contains(t, "mail"):
			c.Emails = append(c.Emails, Emails(val)...)
		case strings.Contains(t, "phone") || strings.Contains(t, "mobile") || t == "":
			c.Phones = append(c.Phones, Phones(region, val)...)
		}
	}
}

// strs reads a string or a list of strings.
func strs(v any) []string {
	if s := text(v); s != "" {
		return []string{s}
	}
	items, _ := v.([]any)
	var out []string
	for _, it := range items {
		if s := text(it); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// megaplanCustom reads a custom field: Megaplan names them
// "Category1000047CustomFieldTlClientId"; the configured name, or any field
// whose squashed name ends in def, is read.
func megaplanCustom(o vendorObject, configured, def string) string {
	want := squash(configured)
	for k := range o {
		sk := squash(k)
		if (want != "" && (sk == want || strings.HasSuffix(sk, "customfield"+want))) || strings.HasSuffix(sk, def) {
			if v := o.str(k); v != "" && len(v) <= 256 {
				return v
			}
		}
	}
	return ""
}
