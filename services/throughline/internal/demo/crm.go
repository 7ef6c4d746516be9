package demo

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// crmBranch is a branch's CRM: its vendor and the leads still open in it.
type crmBranch struct {
	cfg    *tenants.CRM
	sloppy bool             // managers forget the amount of won deals
	open   map[string]*lead // by phone: a repeat contact joins the open lead
}

func newCRMBranch(a *tenants.Account) *crmBranch {
	if a == nil || a.CRM == nil {
		return nil
	}
	switch a.CRM.Provider {
	case crmAmoCRM, crmBitrix24, crmGeneric, crmMegaplan, crmDynamics:
	default:
		return nil
	}
	return &crmBranch{cfg: a.CRM, sloppy: a.ID == sloppyBranch, open: map[string]*lead{}}
}

// Outcomes a lead is headed for.
const (
	fateWon  = "won"
	fateLost = "lost"
	fateOpen = "open" // undecided until the cycle ends: then closed as lost
)

// leadFrom is what a lead starts from: a form on the site or a target call.
type leadFrom struct {
	bi       int
	channel  string // the story's channel of the contact
	kind     string // form, call
	clientID string // from the form's hidden field, or reported by the call tracker
	callID   string
	phone    string
	at       time.Time
}

// lead is a lead's life in its branch's CRM: created, maybe qualified (a
// trial lesson booked: the deal), then won or lost days later.
type lead struct {
	leadFrom
	lane                      uint64
	leadID, dealID, contactID string
	fate                      string
	lostAtLead                bool  // lost before a deal was made
	planned                   int64 // the deal's expected amount, roubles
	quoted                    int64 // the expected amount the CRM sent with the deal
	amount                    int64 // what the deal is worth when it is won, roubles
	noAmount                  bool  // history: the manager does not record the amount
	recorded                  int64 // the amount the CRM sent with the won deal
	stage                     string
	created                   time.Time
	closed                    time.Time
}

// formSubmitted: a submitted form becomes a lead in the branch's CRM a
// little later, carrying the client id the tracker put in its hidden field.
func (w *world) formSubmitted(vis *visit, now time.Time) {
	w.newLead(leadFrom{bi: vis.branch, channel: channels[vis.channel].name, kind: "form",
		clientID: vis.v.clientID, phone: vis.v.phone, at: now.Add(w.crmDelay(time.Duration(20+w.r.IntN(300)) * time.Second))})
}

// newLead creates a lead and schedules its changes. Whether it will be won
// or lost, and for how much, follows the channel's economics.
func (w *world) newLead(f leadFrom) {
	cb := w.branches[f.bi].crm
	if cb == nil {
		return
	}
	if _, repeat := cb.open[f.phone]; repeat {
		return
	}
	eco := story[f.channel]
	l := &lead{leadFrom: f, created: f.at}
	id := w.nextID()
	l.lane = id
	switch cb.cfg.Provider {
	case crmAmoCRM, crmMegaplan, crmDynamics: // the lead (сделка, opportunity) is the deal
		l.leadID, l.dealID, l.contactID = strconv.FormatUint(id, 10), strconv.FormatUint(id, 10), strconv.FormatUint(w.nextID(), 10)
	case crmBitrix24:
		l.leadID, l.dealID, l.contactID = strconv.FormatUint(id, 10), strconv.FormatUint(w.nextID(), 10), strconv.FormatUint(w.nextID(), 10)
	default:
		l.leadID, l.dealID, l.contactID = "L-"+strconv.FormatUint(id, 10), "D-"+strconv.FormatUint(id, 10), strconv.FormatUint(w.nextID(), 10)
	}
	switch u := w.r.Float64(); {
	case u < eco.won:
		l.fate = fateWon
	case u < eco.won+(1-eco.won)*0.85:
		l.fate = fateLost
	default:
		l.fate = fateOpen
	}
	l.planned = roundTo(eco.deal, 500)
	l.amount = roundTo(int64(float64(eco.deal)*(0.5+w.r.Float64())), 500)
	if cb.sloppy {
		l.planned = 0
		l.noAmount = w.r.Float64() < 0.5
	}
	l.quoted = l.planned
	l.lostAtLead = l.fate == fateLost && w.r.Float64() < 0.5
	// A lead lost at the lead stage never gets a deal: its close is the
	// lead's (a deal made for it would be left open for good).
	qualifies := l.fate == fateWon || l.fate == fateLost && !l.lostAtLead || l.fate == fateOpen && w.r.Float64() < eco.qualify
	cb.open[f.phone] = l
	w.tally.add(f.channel, func(c *channelTally) { c.Leads++ })

	w.at(f.at, l.lane, func(at time.Time) []*hookReq { return w.crmAdd(l, at) })
	t := f.at
	if qualifies {
		t = t.Add(w.crmDelay(2*time.Hour + time.Duration(w.r.Int64N(int64(46*time.Hour)))))
		w.at(t, l.lane, func(at time.Time) []*hookReq { return w.crmQualify(l, at) })
	}
	switch l.fate {
	case fateOpen:
		// Nobody decides: the manager closes it as lost when the sales
		// cycle is over (a lead that never got a deal at the lead stage),
		// so no deal stays in a stage for longer than the cycle
		// (stuckDealAge, the demo's stuck-deals rule).
		l.lostAtLead = !qualifies
		t = t.Add(w.crmDelay(10*24*time.Hour + time.Duration(w.r.Int64N(int64(24*time.Hour)))))
	default:
		t = t.Add(w.crmDelay(24*time.Hour + time.Duration(w.r.Int64N(int64(10*24*time.Hour)))))
	}
	w.at(t, l.lane, func(at time.Time) []*hookReq { return w.crmClose(l, at) })
}

// stuckDealAge is longer than any deal of the demo stays in one stage: a
// lead waits at most two days for its trial lesson and at most eleven
// more for its outcome. The demo's stuck-deals rule (alertrules.yaml)
// uses it, so that it fires only for a deal that really is stuck.
const stuckDealAge = 12 * 24 * time.Hour

func (w *world) crmAdd(l *lead, at time.Time) []*hookReq {
	switch w.branches[l.bi].crm.cfg.Provider {
	case crmMegaplan, crmDynamics:
		return w.pushCRM(l, "add", at)
	case crmAmoCRM:
		return w.amoAdd(l, at)
	case crmBitrix24:
		return w.b24Add(l, at)
	}
	return w.genericAdd(l, at)
}

func (w *world) crmQualify(l *lead, at time.Time) []*hookReq {
	if w.amountsOff(l, at) {
		l.quoted = 0
	}
	switch w.branches[l.bi].crm.cfg.Provider {
	case crmMegaplan, crmDynamics:
		return w.pushCRM(l, "qualify", at)
	case crmAmoCRM:
		return w.amoQualify(l, at)
	case crmBitrix24:
		return w.b24Qualify(l, at)
	}
	return w.genericQualify(l, at)
}

// crmClose sends the outcome and counts it in the story: a won deal's
// revenue as far as the CRM recorded it.
func (w *world) crmClose(l *lead, at time.Time) []*hookReq {
	delete(w.branches[l.bi].crm.open, l.phone)
	l.closed = at
	if l.fate == fateWon {
		l.recorded = l.amount
		if w.skipsAmount(l, at) {
			l.recorded = 0
			if w.live {
				w.story.missing = append(w.story.missing, l)
			}
		}
	}
	w.tally.add(l.channel, func(c *channelTally) {
		if l.fate == fateWon {
			c.Won++
			c.Revenue += l.recorded * 100
		} else {
			c.Lost++
		}
	})
	switch w.branches[l.bi].crm.cfg.Provider {
	case crmMegaplan, crmDynamics:
		return w.pushCRM(l, "close", at)
	case crmAmoCRM:
		return w.amoClose(l, at)
	case crmBitrix24:
		return w.b24Close(l, at)
	}
	return w.genericClose(l, at)
}

// crmEnterAmount is a manager entering the amount of a deal that was won
// without one: a change of the won deal that carries it.
func (w *world) crmEnterAmount(l *lead, at time.Time) []*hookReq {
	// The change must be newer than the won one in the CRM's clock
	// (seconds, for amoCRM).
	at = maxTime(at, l.closed.Add(time.Second))
	l.recorded = l.amount
	w.tally.add(l.channel, func(c *channelTally) { c.Revenue += l.amount * 100 })
	switch w.branches[l.bi].crm.cfg.Provider {
	case crmMegaplan, crmDynamics:
		return w.pushCRM(l, "close", at) // the won deal again, with its amount
	case crmAmoCRM:
		return w.amoAmount(l, at)
	case crmBitrix24:
		return []*hookReq{w.b24Event(l, "ONCRMDEALUPDATE", "deal", l.dealID, at, w.b24Deal(l, "WON", "S", l.amount, at))}
	}
	return []*hookReq{w.genericHook(l, map[string]any{"entity": "deal", "action": "update", "deal_id": l.dealID,
		"lead_id": l.leadID, "stage": "paid", "outcome": "won", "amount": strconv.FormatInt(l.amount, 10),
		"updated_at": at.In(msk).Format(time.RFC3339)})}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// --- amoCRM: PHP form arrays; the stage change of a digital pipeline
// carries ids only, so the collector pulls the lead from the API.

const (
	amoPipeline     = "2116"
	amoFirstContact = "10216995" // «Первичный контакт»
	amoTrialBooked  = "10216998" // «Пробный урок назначен»
	amoWon          = "142"
	amoLost         = "143"
	amoClientField  = "70001"
	amoCallField    = "70002"
)

func (w *world) amoAdd(l *lead, at time.Time) []*hookReq {
	l.stage = amoFirstContact
	f := w.amoAccount(l)
	p := "leads[add][0]"
	f.Set(p+"[id]", l.leadID)
	f.Set(p+"[name]", leadTitle(l))
	f.Set(p+"[status_id]", l.stage)
	f.Set(p+"[pipeline_id]", amoPipeline)
	f.Set(p+"[price]", "0")
	f.Set(p+"[responsible_user_id]", "504141")
	f.Set(p+"[created_at]", unix(l.created))
	f.Set(p+"[updated_at]", unix(at))
	amoCustomFields(f, p, l)
	c := "contacts[add][0]"
	f.Set(c+"[id]", l.contactID)
	f.Set(c+"[name]", "Клиент "+l.phone[len(l.phone)-4:])
	f.Set(c+"[last_modified]", unix(at))
	f.Set(c+"[custom_fields][0][id]", "501")
	f.Set(c+"[custom_fields][0][code]", "PHONE")
	f.Set(c+"[custom_fields][0][name]", "Телефон")
	f.Set(c+"[custom_fields][0][values][0][value]", l.phone)
	f.Set(c+"[custom_fields][0][values][0][enum]", "WORK")
	f.Set(c+"[linked_leads_id]["+l.leadID+"]", l.leadID)
	return []*hookReq{w.amoHook(l, f, w.amoState(l, 0, at))}
}

// amoQualify is a digital-pipeline webhook: ids and statuses only.
func (w *world) amoQualify(l *lead, at time.Time) []*hookReq {
	old := l.stage
	l.stage = amoTrialBooked
	f := w.amoAccount(l)
	p := "leads[status][0]"
	f.Set(p+"[id]", l.leadID)
	f.Set(p+"[status_id]", l.stage)
	f.Set(p+"[pipeline_id]", amoPipeline)
	f.Set(p+"[old_status_id]", old)
	f.Set(p+"[old_pipeline_id]", amoPipeline)
	return []*hookReq{w.amoHook(l, f, w.amoState(l, l.quoted, at))}
}

func (w *world) amoClose(l *lead, at time.Time) []*hookReq {
	old := l.stage
	price := l.quoted
	l.stage = amoLost
	if l.fate == fateWon {
		l.stage, price = amoWon, l.recorded
	}
	f := w.amoAccount(l)
	p := "leads[status][0]"
	f.Set(p+"[id]", l.leadID)
	f.Set(p+"[status_id]", l.stage)
	f.Set(p+"[old_status_id]", old)
	f.Set(p+"[pipeline_id]", amoPipeline)
	f.Set(p+"[price]", strconv.FormatInt(price, 10))
	f.Set(p+"[updated_at]", unix(at))
	f.Set(p+"[last_modified]", unix(at))
	amoCustomFields(f, p, l)
	return []*hookReq{w.amoHook(l, f, w.amoState(l, price, at))}
}

// amoAmount is the lead's update (not a stage change: it stays won) with
// the price entered.
func (w *world) amoAmount(l *lead, at time.Time) []*hookReq {
	f := w.amoAccount(l)
	p := "leads[update][0]"
	f.Set(p+"[id]", l.leadID)
	f.Set(p+"[name]", leadTitle(l))
	f.Set(p+"[status_id]", l.stage)
	f.Set(p+"[pipeline_id]", amoPipeline)
	f.Set(p+"[price]", strconv.FormatInt(l.amount, 10))
	f.Set(p+"[responsible_user_id]", "504141")
	f.Set(p+"[created_at]", unix(l.created))
	f.Set(p+"[updated_at]", unix(at))
	f.Set(p+"[last_modified]", unix(at))
	amoCustomFields(f, p, l)
	return []*hookReq{w.amoHook(l, f, w.amoState(l, l.amount, at))}
}

func (w *world) amoAccount(l *lead) url.Values {
	id := w.branches[l.bi].id
	return url.Values{"account[subdomain]": {amoSubdomain(id)}, "account[id]": {strconv.FormatUint(16_700_000+hash64(id)%100_000, 10)}}
}

func amoCustomFields(f url.Values, p string, l *lead) {
	i := 0
	for _, cf := range []struct{ id, name, value string }{
		{amoClientField, amoClientIDField, l.clientID}, {amoCallField, amoCallIDField, l.callID},
	} {
		if cf.value == "" {
			continue
		}
		q := fmt.Sprintf("%s[custom_fields][%d]", p, i)
		f.Set(q+"[id]", cf.id)
		f.Set(q+"[name]", cf.name)
		f.Set(q+"[values][0][value]", cf.value)
		i++
	}
}

// amoState is the lead as GET /api/v4/leads/{id}?with=contacts answers.
func (w *world) amoState(l *lead, price int64, at time.Time) []byte {
	var fields []map[string]any
	for _, cf := range []struct{ id, name, value string }{
		{amoClientField, amoClientIDField, l.clientID}, {amoCallField, amoCallIDField, l.callID},
	} {
		if cf.value != "" {
			id, _ := strconv.Atoi(cf.id)
			fields = append(fields, map[string]any{"field_id": id, "field_name": cf.name, "field_code": nil,
				"field_type": "text", "values": []map[string]any{{"value": cf.value}}})
		}
	}
	id, _ := strconv.ParseUint(l.leadID, 10, 64)
	contact, _ := strconv.ParseUint(l.contactID, 10, 64)
	status, _ := strconv.Atoi(l.stage)
	pipeline, _ := strconv.Atoi(amoPipeline)
	b, _ := json.Marshal(map[string]any{
		"id": id, "name": leadTitle(l), "price": price, "responsible_user_id": 504141, "group_id": 0,
		"status_id": status, "pipeline_id": pipeline, "created_at": l.created.Unix(), "updated_at": at.Unix(),
		"is_deleted": false, "custom_fields_values": fields,
		"_embedded": map[string]any{"tags": []any{}, "contacts": []map[string]any{{"id": contact, "is_main": true}}},
	})
	return b
}

func (w *world) amoHook(l *lead, f url.Values, state []byte) *hookReq {
	b := w.branches[l.bi]
	return &hookReq{kind: kindCRM, method: "POST", target: "/v1/hooks/crm/amocrm?k=" + url.QueryEscape(b.server),
		ctype: "application/x-www-form-urlencoded", body: []byte(f.Encode()),
		before: w.put(b.id, "amocrm/lead", l.leadID, state)}
}

// --- Bitrix24: events carry ids only; the collector pulls every entity
// from the portal (crm.lead.get, crm.contact.get, crm.deal.get).

func (w *world) b24Add(l *lead, at time.Time) []*hookReq {
	l.stage = "NEW"
	return []*hookReq{w.b24Event(l, "ONCRMLEADADD", "lead", l.leadID, at, w.b24Lead(l, "NEW", "P", at))}
}

// b24Qualify converts the lead: a contact and a deal are created from it.
func (w *world) b24Qualify(l *lead, at time.Time) []*hookReq {
	l.stage = "PREPARATION"
	return []*hookReq{
		w.b24Event(l, "ONCRMLEADUPDATE", "lead", l.leadID, at, w.b24Lead(l, "CONVERTED", "S", at)),
		w.b24Event(l, "ONCRMCONTACTADD", "contact", l.contactID, at, w.b24Contact(l, at)),
		w.b24Event(l, "ONCRMDEALADD", "deal", l.dealID, at, w.b24Deal(l, "PREPARATION", "P", l.quoted, at)),
	}
}

func (w *world) b24Close(l *lead, at time.Time) []*hookReq {
	switch {
	case l.lostAtLead:
		return []*hookReq{w.b24Event(l, "ONCRMLEADUPDATE", "lead", l.leadID, at, w.b24Lead(l, "JUNK", "F", at))}
	case l.fate == fateWon:
		return []*hookReq{w.b24Event(l, "ONCRMDEALUPDATE", "deal", l.dealID, at, w.b24Deal(l, "WON", "S", l.recorded, at))}
	}
	return []*hookReq{w.b24Event(l, "ONCRMDEALUPDATE", "deal", l.dealID, at, w.b24Deal(l, "LOSE", "F", l.quoted, at))}
}

func (w *world) b24Lead(l *lead, status, semantic string, at time.Time) []byte {
	source := "WEB"
	if l.kind == "call" {
		source = "CALL"
	}
	m := map[string]any{
		"ID": l.leadID, "TITLE": leadTitle(l), "STATUS_ID": status, "STATUS_SEMANTIC_ID": semantic,
		"SOURCE_ID": source, "OPPORTUNITY": "0.00", "CURRENCY_ID": "RUB", "CONTACT_ID": nil,
		"PHONE":       []map[string]string{{"ID": "1", "VALUE_TYPE": "WORK", "VALUE": l.phone, "TYPE_ID": "PHONE"}},
		"DATE_CREATE": b24Time(l.created), "DATE_MODIFY": b24Time(at),
		b24ClientIDField: l.clientID, b24CallIDField: l.callID,
	}
	if status == "CONVERTED" {
		m["CONTACT_ID"] = l.contactID
	}
	return b24Result(m)
}

func (w *world) b24Contact(l *lead, at time.Time) []byte {
	return b24Result(map[string]any{
		"ID": l.contactID, "NAME": "Клиент", "LAST_NAME": l.phone[len(l.phone)-4:], "LEAD_ID": l.leadID,
		"PHONE":       []map[string]string{{"ID": "1", "VALUE_TYPE": "MOBILE", "VALUE": l.phone, "TYPE_ID": "PHONE"}},
		"DATE_CREATE": b24Time(at), "DATE_MODIFY": b24Time(at), b24ClientIDField: l.clientID,
	})
}

func (w *world) b24Deal(l *lead, stage, semantic string, amount int64, at time.Time) []byte {
	closed := "N"
	if semantic != "P" {
		closed = "Y"
	}
	return b24Result(map[string]any{
		"ID": l.dealID, "TITLE": "Сделка #" + l.dealID, "TYPE_ID": "SALE", "CATEGORY_ID": "0",
		"STAGE_ID": stage, "STAGE_SEMANTIC_ID": semantic, "IS_NEW": "N", "CURRENCY_ID": "RUB",
		"OPPORTUNITY": fmt.Sprintf("%d.00", amount), "LEAD_ID": l.leadID, "CONTACT_ID": l.contactID,
		"COMPANY_ID": "0", "CLOSED": closed, "DATE_CREATE": b24Time(l.created), "DATE_MODIFY": b24Time(at),
		b24ClientIDField: l.clientID, b24CallIDField: []string{l.callID},
	})
}

func b24Result(m map[string]any) []byte {
	b, _ := json.Marshal(m)
	return b
}

// b24Event is the outbound webhook Bitrix24 sends: the event, the entity's
// id, the portal and the application token.
func (w *world) b24Event(l *lead, event, kind, id string, at time.Time, state []byte) *hookReq {
	b := w.branches[l.bi]
	portal := b.id + ".bitrix24.ru"
	f := url.Values{
		"event": {event}, "event_handler_id": {"7"}, "data[FIELDS][ID]": {id}, "ts": {unix(at)},
		"auth[domain]": {portal}, "auth[client_endpoint]": {"https://" + portal + "/rest/"},
		"auth[server_endpoint]":   {"https://oauth.bitrix.info/rest/"},
		"auth[member_id]":         {strconv.FormatUint(hash64("member", b.id), 16)},
		"auth[application_token]": {b.crm.cfg.AppToken},
	}
	return &hookReq{kind: kindCRM, method: "POST", target: "/v1/hooks/crm/bitrix24?k=" + url.QueryEscape(b.server),
		ctype: "application/x-www-form-urlencoded", body: []byte(f.Encode()),
		before: w.put(b.id, "bitrix24/"+kind, id, state)}
}

// --- generic: Throughline's own JSON, for branches whose CRM has no
// built-in integration (docs/webhooks/generic-crm.md).

func (w *world) genericAdd(l *lead, at time.Time) []*hookReq {
	ch := map[string]any{"entity": "lead", "action": "add", "lead_id": l.leadID, "contact_id": l.contactID,
		"phones": []string{l.phone}, "updated_at": at.In(msk).Format(time.RFC3339)}
	if l.clientID != "" {
		ch["client_id"] = l.clientID
	}
	if l.callID != "" {
		ch["call_id"] = l.callID
	}
	return []*hookReq{w.genericHook(l, ch)}
}

func (w *world) genericQualify(l *lead, at time.Time) []*hookReq {
	return []*hookReq{w.genericHook(l, map[string]any{"entity": "deal", "action": "add", "deal_id": l.dealID,
		"lead_id": l.leadID, "pipeline": "main", "stage": "trial_lesson", "outcome": "open",
		"amount": strconv.FormatInt(l.quoted, 10), "updated_at": at.In(msk).Format(time.RFC3339)})}
}

func (w *world) genericClose(l *lead, at time.Time) []*hookReq {
	ts := at.In(msk).Format(time.RFC3339)
	switch {
	case l.lostAtLead:
		return []*hookReq{w.genericHook(l, map[string]any{"entity": "lead", "action": "status", "lead_id": l.leadID,
			"stage": "junk", "outcome": "lost", "updated_at": ts})}
	case l.fate == fateWon:
		return []*hookReq{w.genericHook(l, map[string]any{"entity": "deal", "action": "status", "deal_id": l.dealID,
			"lead_id": l.leadID, "stage": "paid", "outcome": "won", "amount": strconv.FormatInt(l.recorded, 10), "updated_at": ts})}
	}
	return []*hookReq{w.genericHook(l, map[string]any{"entity": "deal", "action": "status", "deal_id": l.dealID,
		"lead_id": l.leadID, "stage": "refused", "outcome": "lost", "updated_at": ts})}
}

func (w *world) genericHook(l *lead, change map[string]any) *hookReq {
	body, _ := json.Marshal(map[string]any{"changes": []any{change}})
	return &hookReq{kind: kindCRM, method: "POST", target: "/v1/hooks/crm/generic", ctype: "application/json",
		header: map[string]string{"X-Write-Key": w.branches[l.bi].server}, body: body}
}

// put returns what sets an entity's state in the simulated CRM (nil when
// no CRM server runs).
func (w *world) put(account, kind, id string, state []byte) func() {
	st := w.store
	if st == nil {
		return nil
	}
	return func() { st.put(account, kind, id, state) }
}

func leadTitle(l *lead) string {
	switch l.kind {
	case "call":
		return "Звонок " + l.phone
	case "chat":
		return "Чат на сайте"
	}
	return "Заявка с сайта: пробный урок"
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func b24Time(t time.Time) string { return t.In(msk).Format("2006-01-02T15:04:05-07:00") }

func roundTo(v, step int64) int64 { return (v + step/2) / step * step }
