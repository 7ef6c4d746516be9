package event

// Types of events from the other sources: call tracking, CRMs and ad costs.
// Each carries its details in the matching sub-record of the envelope.
const (
	TypeCall = "call" // a phone call reported by a call-tracking service
	TypeCRM  = "crm"  // a CRM lead/deal/contact created or changed
	TypeCost = "cost" // one day × channel × campaign (× account) of ad spend
	// TypeNumberLease is Throughline's own dynamic number insertion: a pool
	// number leased (or its lease extended) to the envelope's client id.
	TypeNumberLease = "number_lease"
)

// NumberLease is one lease of a pool tracking number to a visitor.
type NumberLease struct {
	Number string `json:"number"` // E.164 tracking number shown to the visitor
	From   int64  `json:"from"`   // lease start, Unix ms: when this client first got the number
	To     int64  `json:"to"`     // lease end, Unix ms
	// Shared marks a lease made while the pool was exhausted: the number was
	// still leased to another visitor, whose lease it cut short.
	Shared bool `json:"shared,omitempty"`
}

// Call is what a call-tracking vendor reports about one call.
type Call struct {
	CallID         string   `json:"call_id"`                   // the vendor's id, unique per provider and account
	Provider       string   `json:"provider"`                  // generic, calltouch, comagic, mango
	CallerPhone    string   `json:"caller_phone,omitempty"`    // E.164, e.g. +79161234567
	TrackingNumber string   `json:"tracking_number,omitempty"` // E.164 number the visitor dialled
	Direction      string   `json:"direction,omitempty"`       // in, out
	WaitSec        int      `json:"wait_sec"`
	TalkSec        int      `json:"talk_sec"`
	Answered       bool     `json:"answered"`
	RecordingURL   string   `json:"recording_url,omitempty"`
	ClientIDs      []string `json:"client_ids,omitempty"` // our client id(s) the vendor's script carried (dynamic numbers)
	Channel        string   `json:"channel,omitempty"`    // for static numbers: the channel the number is assigned to
}

// CRM is one change of a CRM entity, normalised across vendors.
type CRM struct {
	Provider  string   `json:"provider"`          // generic, amocrm, bitrix24
	Entity    string   `json:"entity"`            // lead, deal, contact
	Action    string   `json:"action"`            // add, update, status, delete
	LeadID    string   `json:"lead_id,omitempty"` // the vendor's ids, unique per provider and account
	DealID    string   `json:"deal_id,omitempty"`
	ContactID string   `json:"contact_id,omitempty"`
	Pipeline  string   `json:"pipeline,omitempty"`
	Stage     string   `json:"stage,omitempty"`      // the vendor's stage/status id or name
	Outcome   string   `json:"outcome"`              // open, won, lost
	Amount    int64    `json:"amount_minor"`         // in minor units (kopecks, cents) of Currency
	Currency  string   `json:"currency,omitempty"`   // ISO 4217
	Phones    []string `json:"phones,omitempty"`     // E.164
	Emails    []string `json:"emails,omitempty"`     // lower-cased
	ClientID  string   `json:"client_id,omitempty"`  // our client id, from a custom/hidden field
	CallID    string   `json:"call_id,omitempty"`    // the call-tracking id, when the CRM carries it
	UpdatedAt int64    `json:"updated_at,omitempty"` // the vendor's change time, Unix ms: orders updates
	Units     float64  `json:"units,omitempty"`      // units sold: the deal's quantity (its line items'), when the CRM gives it
}

// Cost is one row of ad spend. Re-sending the same key restates it.
type Cost struct {
	Date        string `json:"date"` // YYYY-MM-DD in the tenant's time zone
	Channel     string `json:"channel"`
	Source      string `json:"source,omitempty"`
	Medium      string `json:"medium,omitempty"`
	Campaign    string `json:"campaign,omitempty"`
	Amount      int64  `json:"amount_minor"` // minor units of Currency
	Currency    string `json:"currency"`
	Clicks      int64  `json:"clicks"`
	Impressions int64  `json:"impressions"`
	Central     bool   `json:"central,omitempty"`     // bought centrally: allocated to accounts by sessions
	CampaignID  string `json:"campaign_id,omitempty"` // the ad platform's campaign id, when the report has one

	// ImportID names the upload the row came in. The latest complete import
	// of a (tenant, account, date, channel) restates it: rows of earlier
	// imports of that day and channel stop counting (docs/costs.md).
	ImportID string `json:"import_id,omitempty"`
	// Commit marks the record that closes an import for one account: it
	// carries no spend, only ImportRows, the number of cost rows the import
	// holds for the account. An import without its commit never counts.
	Commit     bool `json:"commit,omitempty"`
	ImportRows int  `json:"import_rows,omitempty"`
}
