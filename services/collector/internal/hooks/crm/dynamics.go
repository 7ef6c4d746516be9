package crm

import (
	"strings"
)

// Dynamics365 is Microsoft Dynamics 365 (Dataverse) opportunities.
const Dynamics365 = "dynamics"

// ParseDynamics reads one change of a Dynamics 365 opportunity
// (docs/webhooks/dynamics.md), in either of the two shapes Dynamics sends:
//
//   - the entity's JSON as the Web API and Power Automate write it
//     (opportunityid, estimatedvalue, actualvalue, statecode, modifiedon,
//     _parentcontactid_value), posted by a flow's HTTP step;
//   - a service endpoint webhook's RemoteExecutionContext
//     (MessageName, PrimaryEntityName, PrimaryEntityId, InputParameters'
//     Target and PostEntityImages, each a list of {key, value} attributes).
//
// statecode 1 is won, 2 lost, anything else open; a won opportunity's
// amount is actualvalue, else estimatedvalue.
func ParseDynamics(body []byte, s Settings) ([]Change, error) {
	o, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	action := ActionUpdate
	if ctx := o.lookup("InputParameters"); ctx != nil || o.lookup("PrimaryEntityName") != nil {
		if ent := strings.ToLower(o.str("PrimaryEntityName")); ent != "" && ent != "opportunity" {
			return nil, nil // another entity's step: nothing to read
		}
		switch strings.ToLower(o.str("MessageName")) {
		case "create":
			action = ActionAdd
		case "delete":
			action = ActionDelete
		case "win", "lose", "setstate", "setstatedynamicentity":
			action = ActionStatus
		}
		flat := vendorObject{}
		for _, list := range []any{o.lookup("InputParameters"), o.lookup("PostEntityImages")} {
			mergeAttributes(flat, list)
		}
		if flat.str("opportunityid") == "" {
			flat["opportunityid"] = o.str("PrimaryEntityId")
		}
		o = flat
	}
	id := o.str("opportunityid", "id", "OpportunityId")
	if id == "" {
		return nil, fieldErr("opportunityid", "required: the opportunity's id")
	}
	c := Change{}
	c.Provider, c.Entity, c.Action, c.DealID = Dynamics365, EntityDeal, action, id
	c.ContactID = o.str("_parentcontactid_value", "parentcontactid", "_customerid_value", "customerid")
	c.Pipeline = o.str("_pricelevelid_value", "stepname")
	state := strings.ToLower(o.str("statecode"))
	switch state {
	case "1", "won":
		c.Outcome = OutcomeWon
	case "2", "lost":
		c.Outcome = OutcomeLost
	default:
		c.Outcome = OutcomeOpen
	}
	c.Stage = o.str("statuscode", "salesstage", "stepname")
	if c.Outcome == OutcomeOpen {
		c.Outcome = s.Outcome(c.Stage, OutcomeOpen)
	}
	c.Currency = s.Currency
	if cur := strings.ToUpper(o.str("isocurrencycode", "currency", "transactioncurrencyid@OData.Community.Display.V1.FormattedValue")); isCurrency(cur) {
		c.Currency = cur
	}
	amount := o.str("estimatedvalue", "estimatedvalue_base")
	if c.Outcome == OutcomeWon {
		if a := o.str("actualvalue", "actualvalue_base"); a != "" {
			amount = a
		}
	}
	if c.Amount, err = Amount(amount, c.Currency); err != nil {
		return nil, fieldErr("estimatedvalue", "%v", err)
	}
	c.Phones = Phones(s.Region, o.str("telephone1"), o.str("mobilephone"), o.str("phone"))
	c.Emails = Emails(o.str("emailaddress1"), o.str("emailaddress"), o.str("email"))
	c.ClientID = dynamicsCustom(o, s.clientIDField(), "tl_client_id")
	c.CallID = dynamicsCustom(o, s.callIDField(), "tl_call_id")
	// Units: the configured column, else the opportunity products a flow
	// expanded (product_opportunities, each with its quantity).
	c.fieldOrItems(s, func(name string) string { return dynamicsCustom(o, name, strings.ToLower(name)) },
		func() (float64, bool, string) {
			return listUnits(o, []string{"product_opportunities", "opportunityproducts", "opportunity_products"}, []string{"quantity"})
		})
	if c.UpdatedAt, err = Time(o.str("modifiedon", "actualclosedate", "createdon")); err != nil {
		return nil, fieldErr("modifiedon", "%v", err)
	}
	if c.UpdatedAt == 0 {
		c.Seed = PayloadSeed(body) // a repeated delivery keeps its id
	}
	if err := Validate(&c.CRM); err != nil {
		return nil, err
	}
	return []Change{c}, nil
}

// dynamicsCustom reads a custom column: the configured one by its logical
// name (publisher prefix and all, "new_tl_client_id"), else any column whose
// name ends in def.
func dynamicsCustom(o vendorObject, configured, def string) string {
	if v := o.str(configured); v != "" && configured != defaultClientIDField && configured != defaultCallIDField {
		return v
	}
	for k := range o {
		if strings.HasSuffix(strings.ToLower(k), def) {
			if v := o.str(k); v != "" && len(v) <= 256 {
				return v
			}
		}
	}
	return ""
}

// mergeAttributes flattens RemoteExecutionContext parameter lists —
// [{key, value}] where a value is an entity {Attributes: [{key, value}]}
// — into flat, the first value of a name winning.
func mergeAttributes(flat vendorObject, list any) {
	items, _ := list.([]any)
	for _, it := range items {
		kv, ok := it.(map[string]any)
		if !ok {
			continue
		}
		ent, ok := vendorObject(kv).lookup("value").(map[string]any)
		if !ok {
			continue
		}
		e := vendorObject(ent)
		if id := e.str("Id"); id != "" && flat["opportunityid"] == nil && strings.EqualFold(e.str("LogicalName"), "opportunity") {
			flat["opportunityid"] = id
		}
		attrs, _ := e.lookup("Attributes").([]any)
		for _, a := range attrs {
			pair, ok := a.(map[string]any)
			if !ok {
				continue
			}
			name := text(vendorObject(pair).lookup("key"))
			if name == "" {
				continue
			}
			if _, seen := flat[name]; !seen {
				flat[name] = vendorObject(pair).lookup("value")
			}
		}
	}
}
