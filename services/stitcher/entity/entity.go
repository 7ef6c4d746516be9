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
	Tenant  string `json:"tenant"`
	Account string `json:"account"`
	Version uint64 `json:"version"`
	Deleted bool   `json:"deleted,omitempty"`
}

// AccountKey is the Kafka record key of every entity: "tenant/account".
func (m *Meta) AccountKey() string { return m.Tenant + "/" + m.Account }

// Session is a visitor's run of hits from one traffic source.
type Session struct {
	Meta
	SessionID   string `json:"session_id"`
	ClientID    string `json:"client_id"`
	PersonID    string `json:"person_id"`
	Start       int64  `json:"start"` // Unix ms UTC
	End         int64  `json:"end"`
	DurationMS  int64  `json:"duration_ms"`
	Hits        int    `json:"hits"`
	Channel     string `json:"channel"`
	Source      string `json:"source"`
	Medium      string `json:"medium"`
	Campaign    string `json:"campaign,omitempty"`
	Content     string `json:"content,omitempty"`
	Term        string `json:"term,omitempty"`
	ClickParam  string `json:"click_param,omitempty"`
	ClickID     string `json:"click_id,omitempty"`
	LandingPage string `json:"landing_page,omitempty"`
	Referrer    string `json:"referrer,omitempty"`
	FirstEvent  string `json:"first_event_id"`
}

// Call is one phone call, matched to a session or to a static number's channel.
type Call struct {
	Meta
	CallID         string `json:"call_id"` // ours: stable per provider and vendor id
	Provider       string `json:"provider"`
	VendorCallID   string `json:"vendor_call_id"`
	PersonID       string `json:"person_id"`
	TS             int64  `json:"ts"`
	CallerPhone    string `json:"caller_phone,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	Answered       bool   `json:"answered"`
	TalkSec        int    `json:"talk_sec"`
	WaitSec        int    `json:"wait_sec"`
	Target         bool   `json:"target"`
	Unique         bool   `json:"unique"`
	SessionID      string `json:"session_id,omitempty"`
	Channel        string `json:"channel"`
	Static         bool   `json:"static"` // matched by the static number's channel, not a session
	LeadID         string `json:"lead_id,omitempty"`
	RecordingURL   string `json:"recording_url,omitempty"`
	EventID        string `json:"event_id"`
}

// Lead is a person's first contact and the repeat contacts folded into it.
type Lead struct {
	Meta
	LeadID        string `json:"lead_id"`
	PersonID      string `json:"person_id"`
	TS            int64  `json:"ts"`   // first contact
	Kind          string `json:"kind"` // form, call, chat, crm
	FirstEvent    string `json:"first_event_id"`
	Contacts      int    `json:"contacts"`
	LastContactAt int64  `json:"last_contact_at"`
	ClientID      string `json:"client_id,omitempty"`
	CallID        string `json:"call_id,omitempty"`
	CRMLeadID     string `json:"crm_lead_id,omitempty"`
	Channel       string `json:"channel"` // under last_non_direct
	Source        string `json:"source"`
	Medium        string `json:"medium"`
	Campaign      string `json:"campaign,omitempty"`
	Touches       int    `json:"touches"`
	Deals         int    `json:"deals"`
	WonDeals      int    `json:"won_deals"`
	RevenueMinor  int64  `json:"revenue_minor"` // sum of won deals' amounts
}

// Deal is a CRM deal's latest state, ordered by the CRM's updated_at.
type Deal struct {
	Meta
	DealID       string `json:"deal_id"` // ours
	Provider     string `json:"provider"`
	CRMDealID    string `json:"crm_deal_id"`
	PersonID     string `json:"person_id"`
	LeadID       string `json:"lead_id,omitempty"`
	CreatedAt    int64  `json:"created_at"`
	UpdatedAt    int64  `json:"updated_at"`
	Pipeline     string `json:"pipeline,omitempty"`
	Stage        string `json:"stage,omitempty"`
	Outcome      string `json:"outcome"` // open, won, lost
	AmountMinor  int64  `json:"amount_minor"`
	Currency     string `json:"currency,omitempty"`
	RevenueMinor int64  `json:"revenue_minor"` // amount when won, else 0
	WonAt        int64  `json:"won_at,omitempty"`
	Changes      int    `json:"changes"`
}

// Attribution is one touchpoint's share of one lead under one model. A lead
// has a row per model and touch; touch indexes that a re-statement removed
// are re-sent with deleted=true.
type Attribution struct {
	Meta
	LeadID       string  `json:"lead_id"`
	Model        string  `json:"model"`
	Touch        int     `json:"touch"` // 0-based index in the lead's touch sequence
	Touches      int     `json:"touches"`
	LeadTS       int64   `json:"lead_ts"`
	TouchTS      int64   `json:"touch_ts"`
	SessionID    string  `json:"session_id,omitempty"` // empty for a static call or "(none)"
	Channel      string  `json:"channel"`
	Source       string  `json:"source"`
	Medium       string  `json:"medium"`
	Campaign     string  `json:"campaign,omitempty"`
	Weight       float64 `json:"weight"`
	RevenueMinor float64 `json:"revenue_minor"` // the lead's won revenue × weight
}

// ID of an attribution row: lead, model and touch index.
func (a *Attribution) ID() string { return a.LeadID + "/" + a.Model + "/" + strconv.Itoa(a.Touch) }
