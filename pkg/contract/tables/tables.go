// Package tables maps the stitcher's entity topics to their ClickHouse tables
// (schemas/clickhouse/0004_entities.sql): for each, the topic, the table, the
// columns and a pure function from a record value to the row. The loader
// appends the Kafka coordinates (_topic, _partition, _offset) itself.
package tables

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/kafka"
)

// Table is one entity topic's mapping.
type Table struct {
	Topic   string
	Table   string
	Columns []chstore.Column
	// Row decodes a record value into the values of Columns. An error means
	// the record is not an entity of this topic.
	Row func(value []byte) ([]any, error)
}

// All are the mappings of every entity topic.
func All() []Table {
	return []Table{
		{kafka.TopicSessions, "sessions", SessionColumns, SessionRow},
		{kafka.TopicCalls, "calls", CallColumns, CallRow},
		{kafka.TopicLeads, "leads", LeadColumns, LeadRow},
		{kafka.TopicDeals, "deals", DealColumns, DealRow},
		{kafka.TopicAttribution, "attribution", AttributionColumns, AttributionRow},
	}
}

func cols(spec ...string) []chstore.Column {
	out := make([]chstore.Column, 0, len(spec)/2)
	for i := 0; i < len(spec); i += 2 {
		out = append(out, chstore.Column{Name: spec[i], Type: spec[i+1]})
	}
	return out
}

const (
	lc  = "LowCardinality(String)"
	str = "String"
	ts  = "DateTime64(3, 'UTC')"
)

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func flag(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func decode[T any](value []byte, kind string) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(value, v); err != nil {
		return nil, fmt.Errorf("decoding %s record: %w", kind, err)
	}
	return v, nil
}

func checkMeta(m entity.Meta, kind, id string) error {
	if m.Tenant == "" || m.Account == "" || id == "" || m.Version == 0 {
		return fmt.Errorf("decoding %s record: tenant, account, id and version are required", kind)
	}
	return nil
}

// SessionColumns are the columns of sessions that SessionRow fills.
var SessionColumns = cols("tenant", lc, "account", lc, "session_id", str, "version", "UInt64", "deleted", "UInt8",
	"client_id", str, "person_id", str, "started_at", ts, "ended_at", ts, "duration_ms", "Int64", "hits", "UInt32",
	"channel", lc, "source", str, "medium", str, "campaign", str, "content", str, "term", str,
	"click_param", lc, "click_id", str, "landing_page", str, "referrer", str, "first_event_id", str,
	"ym_client_id", str, "ga_client_id", str)

// SessionRow maps a sessions record.
func SessionRow(value []byte) ([]any, error) {
	s, err := decode[entity.Session](value, "session")
	if err != nil {
		return nil, err
	}
	if err := checkMeta(s.Meta, "session", s.SessionID); err != nil {
		return nil, err
	}
	return []any{s.Tenant, s.Account, s.SessionID, s.Version, flag(s.Deleted),
		s.ClientID, s.PersonID, ms(s.Start), ms(s.End), s.DurationMS, uint32(s.Hits),
		s.Channel, s.Source, s.Medium, s.Campaign, s.Content, s.Term,
		s.ClickParam, s.ClickID, s.LandingPage, s.Referrer, s.FirstEvent, s.YMClientID, s.GAClientID}, nil
}

// CallColumns are the columns of calls that CallRow fills.
var CallColumns = cols("tenant", lc, "account", lc, "call_id", str, "version", "UInt64", "deleted", "UInt8",
	"provider", lc, "vendor_call_id", str, "person_id", str, "ts", ts, "caller_phone", str, "tracking_number", str,
	"answered", "Bool", "talk_sec", "UInt32", "wait_sec", "UInt32", "is_target", "Bool", "is_unique", "Bool",
	"session_id", str, "channel", lc, "is_static", "Bool", "lead_id", str, "recording_url", str, "event_id", str)

// CallRow maps a calls record.
func CallRow(value []byte) ([]any, error) {
	c, err := decode[entity.Call](value, "call")
	if err != nil {
		return nil, err
	}
	if err := checkMeta(c.Meta, "call", c.CallID); err != nil {
		return nil, err
	}
	return []any{c.Tenant, c.Account, c.CallID, c.Version, flag(c.Deleted),
		c.Provider, c.VendorCallID, c.PersonID, ms(c.TS), c.CallerPhone, c.TrackingNumber,
		c.Answered, uint32(c.TalkSec), uint32(c.WaitSec), c.Target, c.Unique,
		c.SessionID, c.Channel, c.Static, c.LeadID, c.RecordingURL, c.EventID}, nil
}

// LeadColumns are the columns of leads that LeadRow fills.
var LeadColumns = cols("tenant", lc, "account", lc, "lead_id", str, "version", "UInt64", "deleted", "UInt8",
	"person_id", str, "ts", ts, "kind", lc, "first_event_id", str, "contacts", "UInt32", "last_contact_at", ts,
	"client_id", str, "call_id", str, "crm_lead_id", str, "channel", lc, "source", str, "medium", str, "campaign", str,
	"touches", "UInt32", "deals", "UInt32", "won_deals", "UInt32", "revenue_minor", "Int64")

// LeadRow maps a leads record.
func LeadRow(value []byte) ([]any, error) {
	l, err := decode[entity.Lead](value, "lead")
	if err != nil {
		return nil, err
	}
	if err := checkMeta(l.Meta, "lead", l.LeadID); err != nil {
		return nil, err
	}
	return []any{l.Tenant, l.Account, l.LeadID, l.Version, flag(l.Deleted),
		l.PersonID, ms(l.TS), l.Kind, l.FirstEvent, uint32(l.Contacts), ms(l.LastContactAt),
		l.ClientID, l.CallID, l.CRMLeadID, l.Channel, l.Source, l.Medium, l.Campaign,
		uint32(l.Touches), uint32(l.Deals), uint32(l.WonDeals), l.RevenueMinor}, nil
}

// DealColumns are the columns of deals that DealRow fills.
var DealColumns = cols("tenant", lc, "account", lc, "deal_id", str, "version", "UInt64", "deleted", "UInt8",
	"provider", lc, "crm_deal_id", str, "person_id", str, "lead_id", str, "created_at", ts, "updated_at", ts,
	"pipeline", str, "stage", str, "outcome", lc, "amount_minor", "Int64", "currency", lc, "revenue_minor", "Int64",
	"won_at", ts, "changes", "UInt32", "units", "Float64")

// DealRow maps a deals record.
func DealRow(value []byte) ([]any, error) {
	d, err := decode[entity.Deal](value, "deal")
	if err != nil {
		return nil, err
	}
	if err := checkMeta(d.Meta, "deal", d.DealID); err != nil {
		return nil, err
	}
	return []any{d.Tenant, d.Account, d.DealID, d.Version, flag(d.Deleted),
		d.Provider, d.CRMDealID, d.PersonID, d.LeadID, ms(d.CreatedAt), ms(d.UpdatedAt),
		d.Pipeline, d.Stage, d.Outcome, d.AmountMinor, d.Currency, d.RevenueMinor,
		ms(d.WonAt), uint32(d.Changes), d.Units}, nil
}

// AttributionColumns are the columns of attribution that AttributionRow fills.
var AttributionColumns = cols("tenant", lc, "account", lc, "lead_id", str, "model", lc, "touch", "UInt16",
	"version", "UInt64", "deleted", "UInt8", "touches", "UInt16", "lead_ts", ts, "touch_ts", ts,
	"session_id", str, "channel", lc, "source", str, "medium", str, "campaign", str,
	"weight", "Float64", "revenue_minor", "Float64")

// AttributionRow maps an attribution record.
func AttributionRow(value []byte) ([]any, error) {
	a, err := decode[entity.Attribution](value, "attribution")
	if err != nil {
		return nil, err
	}
	if err := checkMeta(a.Meta, "attribution", a.LeadID); err != nil {
		return nil, err
	}
	if a.Model == "" || a.Touch < 0 || a.Touch > 65535 || a.Touches > 65535 {
		return nil, fmt.Errorf("decoding attribution record: bad model or touch index")
	}
	return []any{a.Tenant, a.Account, a.LeadID, a.Model, uint16(a.Touch), a.Version, flag(a.Deleted),
		uint16(a.Touches), ms(a.LeadTS), ms(a.TouchTS), a.SessionID, a.Channel, a.Source, a.Medium, a.Campaign,
		a.Weight, a.RevenueMinor}, nil
}
