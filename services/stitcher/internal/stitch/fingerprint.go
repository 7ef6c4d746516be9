package stitch

import (
	"math"

	"github.com/throughline/throughline/pkg/contract/entity"
)

// hasher is FNV-1a over an entity's fields, written field by field: the
// fingerprint of every entity is taken on every re-derivation, so it must be
// cheaper than encoding it. Versions are left out: only content counts.
type hasher uint64

func newHasher() hasher { return 14695981039346656037 }

func (h *hasher) byte(b byte) {
	*h ^= hasher(b)
	*h *= 1099511628211
}

func (h *hasher) s(v string) {
	for i := 0; i < len(v); i++ {
		h.byte(v[i])
	}
	h.byte(0xff) // separator: "ab","c" differs from "a","bc"
}

func (h *hasher) i(v int64) {
	for k := 0; k < 8; k++ {
		h.byte(byte(v >> (8 * k)))
	}
}

func (h *hasher) b(v bool) {
	if v {
		h.byte(1)
	} else {
		h.byte(0)
	}
}

func (h *hasher) f(v float64) { h.i(int64(math.Float64bits(v))) }

func (h *hasher) meta(m entity.Meta) {
	h.s(m.Tenant)
	h.s(m.Account)
	h.b(m.Deleted)
}

func fpSession(e *entity.Session) uint64 {
	h := newHasher()
	h.meta(e.Meta)
	for _, v := range []string{e.SessionID, e.ClientID, e.PersonID, e.Channel, e.Source, e.Medium, e.Campaign,
		e.Content, e.Term, e.ClickParam, e.ClickID, e.LandingPage, e.Referrer, e.FirstEvent} {
		h.s(v)
	}
	if e.YMClientID != "" || e.GAClientID != "" { // only then: sessions without them keep their fingerprints
		h.s(e.YMClientID)
		h.s(e.GAClientID)
	}
	h.i(e.Start)
	h.i(e.End)
	h.i(e.DurationMS)
	h.i(int64(e.Hits))
	return uint64(h)
}

func fpCall(e *entity.Call) uint64 {
	h := newHasher()
	h.meta(e.Meta)
	for _, v := range []string{e.CallID, e.Provider, e.VendorCallID, e.PersonID, e.CallerPhone, e.TrackingNumber,
		e.SessionID, e.Channel, e.LeadID, e.RecordingURL, e.EventID} {
		h.s(v)
	}
	h.i(e.TS)
	h.i(int64(e.TalkSec))
	h.i(int64(e.WaitSec))
	for _, v := range []bool{e.Answered, e.Target, e.Unique, e.Static} {
		h.b(v)
	}
	return uint64(h)
}

func fpLead(e *entity.Lead) uint64 {
	h := newHasher()
	h.meta(e.Meta)
	for _, v := range []string{e.LeadID, e.PersonID, e.Kind, e.FirstEvent, e.ClientID, e.CallID, e.CRMLeadID,
		e.Channel, e.Source, e.Medium, e.Campaign} {
		h.s(v)
	}
	for _, v := range []int64{e.TS, int64(e.Contacts), e.LastContactAt, int64(e.Touches), int64(e.Deals),
		int64(e.WonDeals), e.RevenueMinor} {
		h.i(v)
	}
	return uint64(h)
}

func fpDeal(e *entity.Deal) uint64 {
	h := newHasher()
	h.meta(e.Meta)
	for _, v := range []string{e.DealID, e.Provider, e.CRMDealID, e.PersonID, e.LeadID, e.Pipeline, e.Stage,
		e.Outcome, e.Currency} {
		h.s(v)
	}
	for _, v := range []int64{e.CreatedAt, e.UpdatedAt, e.AmountMinor, e.RevenueMinor, e.WonAt, int64(e.Changes)} {
		h.i(v)
	}
	h.f(e.Units)
	return uint64(h)
}

func fpAttribution(rows []*entity.Attribution) uint64 {
	h := newHasher()
	for _, e := range rows {
		h.meta(e.Meta)
		for _, v := range []string{e.LeadID, e.Model, e.SessionID, e.Channel, e.Source, e.Medium, e.Campaign} {
			h.s(v)
		}
		for _, v := range []int64{int64(e.Touch), int64(e.Touches), e.LeadTS, e.TouchTS} {
			h.i(v)
		}
		h.f(e.Weight)
		h.f(e.RevenueMinor)
	}
	return uint64(h)
}
