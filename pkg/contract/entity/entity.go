// Package entity defines the records the stitcher produces to its entity
// topics: sessions, calls, leads, deals and attribution rows. Their JSON form
// is the wire contract of those topics. Every record carries a stable id and a
// version that grows with every change of the account it belongs to, so
// "latest version wins" (ClickHouse ReplacingMergeTree(version, deleted)); a
// record with deleted=true supersedes an entity that a re-statement removed.
package entity

import "strconv"

// Meta is common to every entity record.
type Meta struct {
	Tenant  string `json:"tenant"`            // franchise network id
	Account string `json:"account"`           // branch id
	Version uint64 `json:"version"`           // grows with every change of the account; the highest wins
	Deleted bool   `json:"deleted,omitempty"` // true: a re-statement removed this entity
}

// AccountKey is the Kafka record key of every entity: "tenant/account".
func (m *Meta) AccountKey() string { return m.Tenant + "/" + m.Account }

// Session is a visitor's run of hits from one traffic source.
type Session struct {
	Meta
	SessionID   string `json:"session_id"`             // stable id of the session
	ClientID    string `json:"client_id"`              // the tracker's first-party client id
	PersonID    string `json:"person_id"`              // the person the client belongs to (identity graph of the account)
	Start       int64  `json:"start"`                  // Unix ms UTC
	End         int64  `json:"end"`                    // last hit, Unix ms UTC
	DurationMS  int64  `json:"duration_ms"`            // end - start
	Hits        int    `json:"hits"`                   // page views and events in the session
	Channel     string `json:"channel"`                // by the tenant's rules; defaults (docs/analytics.md): yandex_direct, google_ads, vk_ads, facebook_ads, telegram, organic, social, referral, email, ai_assistant, sms, display, paid_other, tagged_other, direct, …
	Source      string `json:"source"`                 // utm_source or the referrer host
	Medium      string `json:"medium"`                 // utm_medium, or what the rule sets: cpc, organic, referral, social, (none)
	Campaign    string `json:"campaign,omitempty"`     // utm_campaign
	Content     string `json:"content,omitempty"`      // utm_content
	Term        string `json:"term,omitempty"`         // utm_term
	ClickParam  string `json:"click_param,omitempty"`  // name of the click id parameter: yclid, gclid, fbclid, …
	ClickID     string `json:"click_id,omitempty"`     // its value
	LandingPage string `json:"landing_page,omitempty"` // URL of the first hit
	Referrer    string `json:"referrer,omitempty"`     // external referrer of the first hit
	FirstEvent  string `json:"first_event_id"`         // raw event id of the first hit
	YMClientID  string `json:"ym_client_id,omitempty"` // the visitor's Yandex Metrica ClientID (_ym_uid), when the page runs Metrica: joins with Metrica's ym:s:clientID
	GAClientID  string `json:"ga_client_id,omitempty"` // the visitor's Google Analytics client id (from _ga), when the page runs GA
}

// Call is one phone call, matched to a session or to a static number's channel.
type Call struct {
	Meta
	CallID         string `json:"call_id"`                   // ours: stable per provider and vendor id
	Provider       string `json:"provider"`                  // call-tracking provider: calltouch, comagic, mango, generic
	VendorCallID   string `json:"vendor_call_id"`            // the provider's call id
	PersonID       string `json:"person_id"`                 // the caller as a person of the account
	TS             int64  `json:"ts"`                        // call start, Unix ms UTC
	CallerPhone    string `json:"caller_phone,omitempty"`    // E.164
	TrackingNumber string `json:"tracking_number,omitempty"` // the number dialled, E.164
	Answered       bool   `json:"answered"`
	TalkSec        int    `json:"talk_sec"`                // talk time, seconds
	WaitSec        int    `json:"wait_sec"`                // wait before answer, seconds
	Target         bool   `json:"target"`                  // answered and at least the target talk time (30 s by default)
	Unique         bool   `json:"unique"`                  // no call from this caller to the account in the previous 30 days
	SessionID      string `json:"session_id,omitempty"`    // the visit the call is matched to
	Channel        string `json:"channel"`                 // the session's channel, or the static number's
	Static         bool   `json:"static"`                  // matched by the static number's channel, not a session
	LeadID         string `json:"lead_id,omitempty"`       // the lead this call created or joined
	RecordingURL   string `json:"recording_url,omitempty"` // the provider's recording
	EventID        string `json:"event_id"`                // raw event id
}

// Lead is a person's first contact and the repeat contacts folded into it.
type Lead struct {
	Meta
	LeadID        string `json:"lead_id"` // stable id of the lead
	PersonID      string `json:"person_id"`
	TS            int64  `json:"ts"`                    // first contact
	Kind          string `json:"kind"`                  // form, call, chat, crm
	FirstEvent    string `json:"first_event_id"`        // raw event id of the first contact
	Contacts      int    `json:"contacts"`              // contacts folded into the lead (repeat contacts within 30 days)
	LastContactAt int64  `json:"last_contact_at"`       // Unix ms UTC
	ClientID      string `json:"client_id,omitempty"`   // client id of the first contact, if any
	CallID        string `json:"call_id,omitempty"`     // call id of the first contact, if a call
	CRMLeadID     string `json:"crm_lead_id,omitempty"` // the CRM's lead id, if created in the CRM
	Channel       string `json:"channel"`               // under last_non_direct
	Source        string `json:"source"`
	Medium        string `json:"medium"`
	Campaign      string `json:"campaign,omitempty"`
	Touches       int    `json:"touches"` // sessions (touchpoints) in the lead's attribution lookback
	Deals         int    `json:"deals"`   // CRM deals linked to the lead
	WonDeals      int    `json:"won_deals"`
	RevenueMinor  int64  `json:"revenue_minor"` // sum of won deals' amounts
}

// Deal is a CRM deal's latest state, ordered by the CRM's updated_at.
type Deal struct {
	Meta
	DealID       string  `json:"deal_id"`     // ours
	Provider     string  `json:"provider"`    // CRM: amocrm, bitrix24, generic
	CRMDealID    string  `json:"crm_deal_id"` // the CRM's deal id
	PersonID     string  `json:"person_id"`
	LeadID       string  `json:"lead_id,omitempty"`  // the lead the deal is linked to
	CreatedAt    int64   `json:"created_at"`         // Unix ms UTC, as the CRM says
	UpdatedAt    int64   `json:"updated_at"`         // the CRM's last change, Unix ms UTC
	Pipeline     string  `json:"pipeline,omitempty"` // the CRM's pipeline
	Stage        string  `json:"stage,omitempty"`    // the CRM's stage
	Outcome      string  `json:"outcome"`            // open, won, lost
	AmountMinor  int64   `json:"amount_minor"`       // deal amount, minor units (kopecks, cents)
	Currency     string  `json:"currency,omitempty"` // ISO 4217
	RevenueMinor int64   `json:"revenue_minor"`      // amount when won, else 0
	Units        float64 `json:"units,omitempty"`    // units sold: the quantity of its line items, 0 when the CRM gives none
	WonAt        int64   `json:"won_at,omitempty"`   // when it was won, Unix ms UTC
	Changes      int     `json:"changes"`            // changes seen
}

// Attribution is one touchpoint's share of one lead under one model. A lead
// has a row per model and touch; touch indexes that a re-statement removed
// are re-sent with deleted=true.
type Attribution struct {
	Meta
	LeadID       string  `json:"lead_id"`
	Model        string  `json:"model"`                // first_click, last_click, last_non_direct, linear, time_decay, position_based
	Touch        int     `json:"touch"`                // 0-based index in the lead's touch sequence
	Touches      int     `json:"touches"`              // touches of the lead
	LeadTS       int64   `json:"lead_ts"`              // the lead's first contact, Unix ms UTC
	TouchTS      int64   `json:"touch_ts"`             // the touch's session start, Unix ms UTC
	SessionID    string  `json:"session_id,omitempty"` // empty for a static call or "(none)"
	Channel      string  `json:"channel"`
	Source       string  `json:"source"`
	Medium       string  `json:"medium"`
	Campaign     string  `json:"campaign,omitempty"`
	Weight       float64 `json:"weight"`        // the touch's share; a lead's weights under one model sum to 1
	RevenueMinor float64 `json:"revenue_minor"` // the lead's won revenue × weight
}

// ID of an attribution row: lead, model and touch index.
func (a *Attribution) ID() string { return a.LeadID + "/" + a.Model + "/" + strconv.Itoa(a.Touch) }
