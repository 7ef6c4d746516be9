package demo

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The newer integrations some branches run (docs/demo.md says which):
// Alloka and Callibri call tracking (dynamic numbers that report the
// visitor's client id, like Calltouch), Jivo chats on the site, and
// Megaplan and Microsoft Dynamics 365 CRMs (push-only: each change carries
// the whole deal). Payloads follow docs/webhooks/<vendor>.md.

// Vendors of the newer integrations.
const (
	vendorAlloka   = "alloka"
	vendorCallibri = "callibri"
	chatJivo       = "jivo"
	crmMegaplan    = "megaplan"
	crmDynamics    = "dynamics"
)

// chatShare is the share of visits to a branch with a Jivo widget that end
// in a chat (besides forms and phone clicks).
const chatShare = 0.03

// dynamicNumbers tells the call trackers that substitute a number per
// visitor and report the visitor's client id with the call.
func dynamicNumbers(provider string) bool {
	return provider == vendorCalltouch || provider == vendorAlloka || provider == vendorCallibri
}

// loc is the branch's time zone: Alloka's and Callibri's wall-clock times
// are in it (the collector reads them in the account's timezone).
func (b *branch) loc() *time.Location {
	if b.acct != nil && b.acct.Timezone != "" {
		if l, err := time.LoadLocation(b.acct.Timezone); err == nil {
			return l
		}
	}
	return msk
}

// tokenQuery is the URL's query of a webhook authenticated by the
// branch's server key and, when set, a token of the integration.
func tokenQuery(key, tokenName, token string) string {
	q := url.Values{"k": {key}}
	if token != "" {
		q.Set(tokenName, token)
	}
	return q.Encode()
}

// allokaHook is Alloka's notification at the end of a call (JSON).
func allokaHook(b *branch, c *call, secret string) *hookReq {
	status := "NOANSWER"
	if c.answered {
		status = "ANSWERED"
	}
	m := map[string]any{
		"call_id": "alk-" + c.id, "event": "call_end", "caller_number": c.caller, "virtual_number": c.tracking,
		"start_time": c.start.In(b.loc()).Format("2006-01-02 15:04:05"), "wait_time": strconv.Itoa(c.wait),
		"talk_time": strconv.Itoa(c.talk), "status": status, "site": strings.TrimPrefix(b.site, "https://"),
	}
	if c.answered {
		m["record_url"] = "https://records.alloka.ru/demo/alk-" + c.id + ".mp3"
	}
	visitorFields(m, c, "page_url", "referrer")
	body, _ := json.Marshal(m)
	return &hookReq{kind: kindCalls, method: "POST", target: "/v1/hooks/calls/alloka?" + tokenQuery(b.server, "token", secret),
		ctype: "application/json", body: body}
}

// callibriHook is Callibri's webhook about a call (JSON, the statistics
// API's names).
func callibriHook(b *branch, c *call, secret string) *hookReq {
	status := "Пропущенный"
	if c.answered {
		status = "Принятый"
	}
	m := map[string]any{
		"id": c.id, "phone": strings.TrimPrefix(c.caller, "+"), "callibri_number": strings.TrimPrefix(c.tracking, "+"),
		"date": c.start.In(b.loc()).Format("2006-01-02 15:04:05"), "conversation_duration": strconv.Itoa(c.talk),
		"wait_duration": strconv.Itoa(c.wait), "call_status": status, "site_id": "demo-" + b.id,
	}
	if c.answered {
		m["link_download"] = "https://callibri.ru/demo/rec/" + c.id + ".mp3"
	}
	visitorFields(m, c, "landing_page", "referrer")
	body, _ := json.Marshal(m)
	return &hookReq{kind: kindCalls, method: "POST", target: "/v1/hooks/calls/callibri?" + tokenQuery(b.server, "token", secret),
		ctype: "application/json", body: body}
}

// visitorFields adds what a dynamic number knows of the visitor: the
// client id Throughline's tracker handed the call tracker, the landing
// page and its UTM, the referrer.
func visitorFields(m map[string]any, c *call, pageField, refField string) {
	if c.clientID == "" {
		return
	}
	m["tl_client_id"] = c.clientID
	m[pageField] = c.landing
	if c.ref != "" {
		m[refField] = c.ref
	}
	if u, err := url.Parse(c.landing); err == nil {
		for k, v := range u.Query() {
			if strings.HasPrefix(k, "utm_") && len(v) > 0 {
				m[k] = v[0]
			}
		}
	}
}

// chatStarted: the visitor opens the Jivo widget and writes; an agent
// accepts the chat a little later (Jivo's chat_accepted webhook carries
// the client id the site handed the widget, and the phone the visitor
// left), and the agent enters a lead in the branch's CRM.
func (w *world) chatStarted(vis *visit, now time.Time) {
	b := w.branches[vis.branch]
	if b.jivo == nil {
		return
	}
	id := w.nextID()
	at := now.Add(time.Duration(20+w.r.IntN(100)) * time.Second)
	v := vis.v
	page := vis.prevURL
	w.at(at, 0, func(time.Time) []*hookReq {
		m := map[string]any{
			"event_name": "chat_accepted", "chat_id": id, "widget_id": "demo-" + b.id,
			"visitor": map[string]any{"name": "", "phone": v.phone, "email": "", "chats_count": 1},
			"agent":   map[string]any{"id": "101", "name": "Администратор"},
			"page":    map[string]any{"url": page},
			"custom_data": []map[string]string{{"title": "Филиал", "content": b.id},
				{"title": "tl_client_id", "content": v.clientID}},
			"user_token": v.clientID,
		}
		body, _ := json.Marshal(m)
		return []*hookReq{{kind: kindChats, method: "POST",
			target: "/v1/hooks/chats/jivo?" + tokenQuery(b.server, "token", b.jivo.Token),
			ctype:  "application/json", body: body}}
	})
	w.newLead(leadFrom{bi: vis.branch, channel: channels[vis.channel].name, kind: "chat",
		clientID: v.clientID, phone: v.phone, at: at.Add(w.crmDelay(time.Duration(60+w.r.IntN(600)) * time.Second))})
}

// --- Megaplan: a deal per lead, its state moving along the program.

var megaplanStates = map[string]map[string]string{
	"new":   {"id": "10", "name": "Новая заявка", "type": "active"},
	"trial": {"id": "11", "name": "Пробный урок", "type": "active"},
	"won":   {"id": "12", "name": "Оплачен курс", "type": "positive"},
	"lost":  {"id": "13", "name": "Отказ", "type": "negative"},
}

func (w *world) megaplanDeal(l *lead, event, state string, amount int64, at time.Time) []*hookReq {
	b := w.branches[l.bi]
	l.stage = megaplanStates[state]["id"]
	data := map[string]any{
		"contentType": "Deal", "id": l.dealID, "name": leadTitle(l),
		"program": map[string]any{"contentType": "Program", "id": "3", "name": "Продажи курсов"},
		"state":   map[string]any{"contentType": "ProgramState", "id": megaplanStates[state]["id"], "name": megaplanStates[state]["name"], "type": megaplanStates[state]["type"]},
		"contractor": map[string]any{"contentType": "ContractorHuman", "id": l.contactID,
			"contactInfo": []map[string]string{{"contentType": "ContactInfo", "type": "phone", "value": l.phone}}},
		"timeUpdated": map[string]string{"contentType": "DateTime", "value": at.In(msk).Format(time.RFC3339)},
	}
	if amount > 0 {
		data["price"] = map[string]any{"contentType": "Money", "value": amount, "currency": "RUB"}
	}
	if l.clientID != "" {
		data["Category1000047CustomFieldTlClientId"] = l.clientID
	}
	if l.callID != "" {
		data["Category1000047CustomFieldTlCallId"] = l.callID
	}
	body, _ := json.Marshal(map[string]any{"event": event, "model": "Deal", "accountName": "demo-" + b.id, "data": data})
	return []*hookReq{{kind: kindCRM, method: "POST",
		target: "/v1/hooks/crm/megaplan?" + tokenQuery(b.server, "token", b.crm.cfg.AppToken),
		ctype:  "application/json", body: body}}
}

// --- Dynamics 365: an opportunity per lead, sent by a Power Automate
// flow as the row's JSON.

func (w *world) dynamicsRow(l *lead, salesStage int, state int, amount int64, at time.Time) []*hookReq {
	b := w.branches[l.bi]
	row := map[string]any{
		"@odata.etag": fmt.Sprintf("W/\"%d\"", at.Unix()), "opportunityid": guid(l.dealID), "name": leadTitle(l),
		"statecode": state, "modifiedon": at.UTC().Format(time.RFC3339), "createdon": l.created.UTC().Format(time.RFC3339),
		"_parentcontactid_value": guid(l.contactID), "telephone1": l.phone, "isocurrencycode": "RUB",
	}
	switch state {
	case 0:
		row["salesstage"] = salesStage
		l.stage = strconv.Itoa(salesStage)
		if amount > 0 {
			row["estimatedvalue"] = amount
		}
	case 1:
		row["statuscode"] = 3 // Won
		row["actualvalue"] = amount
		l.stage = "3"
	default:
		row["statuscode"] = 4 // Canceled
		l.stage = "4"
	}
	if l.clientID != "" {
		row["new_tl_client_id"] = l.clientID
	}
	if l.callID != "" {
		row["new_tl_call_id"] = l.callID
	}
	body, _ := json.Marshal(row)
	return []*hookReq{{kind: kindCRM, method: "POST",
		target: "/v1/hooks/crm/dynamics?" + tokenQuery(b.server, "code", b.crm.cfg.AppToken),
		ctype:  "application/json", body: body}}
}

// guid dresses a numeric id as a Dataverse GUID.
func guid(id string) string {
	n, _ := strconv.ParseUint(strings.TrimLeft(id, "LD-"), 10, 64)
	return fmt.Sprintf("6f1c1f3e-2c5d-ef11-bfe3-%012x", n)
}

// pushCRM is a lead's change in the push-only CRMs (Megaplan, Dynamics):
// what = add, qualify, close or amount.
func (w *world) pushCRM(l *lead, what string, at time.Time) []*hookReq {
	megaplan := w.branches[l.bi].crm.cfg.Provider == crmMegaplan
	switch what {
	case "add":
		if megaplan {
			return w.megaplanDeal(l, "on_deal_created", "new", l.quoted, at)
		}
		return w.dynamicsRow(l, 0, 0, l.quoted, at)
	case "qualify":
		if megaplan {
			return w.megaplanDeal(l, "on_deal_updated", "trial", l.quoted, at)
		}
		return w.dynamicsRow(l, 1, 0, l.quoted, at)
	}
	won := l.fate == fateWon
	switch {
	case megaplan && won:
		return w.megaplanDeal(l, "on_deal_updated", "won", l.recorded, at)
	case megaplan:
		return w.megaplanDeal(l, "on_deal_updated", "lost", 0, at)
	case won:
		return w.dynamicsRow(l, 0, 1, l.recorded, at)
	}
	return w.dynamicsRow(l, 0, 2, 0, at)
}
