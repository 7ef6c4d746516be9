package stitch

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/stitcher/internal/attribution"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
	"github.com/throughline/throughline/services/stitcher/internal/lead"
	"github.com/throughline/throughline/services/stitcher/internal/session"
)

// derived is every entity of one person, computed from its inputs alone: the
// same inputs give the same entities, whatever order they arrived in.
type derived struct {
	sessions []*entity.Session
	calls    []*entity.Call
	leads    []*entity.Lead
	deals    []*entity.Deal
	attr     [][]*entity.Attribution // rows of leads[i], model-major
	// clients are the person's client ids, sorted, with their sessions.
	clients []clientSessions
}

// clientSessions are the sessions of one client of a person. derive keeps
// lists, not maps, of what it looks up: a person has a handful of clients,
// calls and leads, and a derivation runs on every event.
type clientSessions struct {
	id       string
	sessions []*entity.Session
}

// sessionsOf are the sessions of client cid in d.
func (d *derived) sessionsOf(cid string) []*entity.Session {
	i := sort.Search(len(d.clients), func(i int) bool { return d.clients[i].id >= cid })
	if i < len(d.clients) && d.clients[i].id == cid {
		return d.clients[i].sessions
	}
	return nil
}

// touch is one touchpoint of a person: a session, or a static-number call.
type touch struct {
	ts        int64
	sessionID string
	src       channel.Source
}

func (a *Account) id(kind string, parts ...string) string {
	var buf [256]byte // on the stack for the usual ids; append moves longer ones
	b := buf[:0]
	for _, s := range [...]string{kind, a.Tenant, a.Account} {
		b = append(append(b, s...), 0)
	}
	for _, s := range parts {
		b = append(append(b, s...), 0)
	}
	sum := sha256.Sum256(b)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

func (a *Account) derive(p *Person) derived {
	var d derived
	meta := entity.Meta{Tenant: a.Tenant, Account: a.Account}
	set := a.settings

	// Sessions, per client.
	d.clients = make([]clientSessions, 0, len(p.Clients))
	for _, cid := range sortedKeys(p.Clients) {
		ss := a.sessions(p, cid)
		d.sessions = append(d.sessions, ss...)
		d.clients = append(d.clients, clientSessions{id: cid, sessions: ss})
	}
	touches := make([]touch, 0, len(d.sessions)+len(p.Calls))
	for _, s := range d.sessions {
		touches = append(touches, touch{ts: s.Start, sessionID: s.SessionID, src: channel.Source{
			Channel: s.Channel, Source: s.Source, Medium: s.Medium, Campaign: s.Campaign}})
	}

	// Calls: matched to the latest session of their clients that started
	// before the call, else to the static number's channel.
	contacts := make([]lead.Contact, len(p.Contacts), len(p.Contacts)+len(p.Calls))
	copy(contacts, p.Contacts)
	if len(p.Calls) > 0 {
		d.calls = make([]*entity.Call, 0, len(p.Calls))
	}
	for i, c := range p.Calls {
		e := &entity.Call{
			Meta: meta, CallID: a.id("call", c.Provider, c.CallID), Provider: c.Provider, VendorCallID: c.CallID,
			PersonID: p.ID, TS: c.TS, CallerPhone: c.Caller, TrackingNumber: c.TrackingNumber,
			Answered: c.Answered, TalkSec: c.TalkSec, WaitSec: c.WaitSec,
			Target: lead.Target(c, set.TargetCallMinTalk), Unique: lead.Unique(p.Calls, i, set.UniqueCallWindow),
			Channel: channel.None, RecordingURL: c.RecordingURL, EventID: c.EventID,
		}
		var best *entity.Session
		for _, cid := range callClients(p.Keys, c.ClientIDs) {
			for _, s := range d.sessionsOf(cid) {
				if s.Start <= c.TS && (best == nil || s.Start > best.Start) {
					best = s
				}
			}
		}
		switch {
		case best != nil:
			e.SessionID, e.Channel = best.SessionID, best.Channel
		case c.Channel != "":
			e.Channel, e.Static = c.Channel, true
			touches = append(touches, touch{ts: c.TS, src: channel.Source{Channel: c.Channel, Source: c.TrackingNumber, Medium: "call"}})
		}
		d.calls = append(d.calls, e)
		if e.Target {
			contacts = append(contacts, lead.Contact{TS: c.TS, ID: e.CallID, Kind: lead.KindCall, CallID: c.CallID})
		}
	}
	sort.SliceStable(touches, func(i, j int) bool {
		if touches[i].ts != touches[j].ts {
			return touches[i].ts < touches[j].ts
		}
		return touches[i].sessionID < touches[j].sessionID
	})

	// Leads.
	lead.Sort(contacts)
	folded := lead.Fold(contacts, set.LeadWindow)
	if len(folded) > 0 {
		d.leads = make([]*entity.Lead, 0, len(folded))
	}
	for _, l := range folded {
		e := &entity.Lead{
			Meta: meta, LeadID: a.id("lead", l.First.ID), PersonID: p.ID, TS: l.First.TS, Kind: l.First.Kind,
			FirstEvent: l.First.ID, Contacts: len(l.Members), LastContactAt: l.LastTS, ClientID: l.First.ClientID,
		}
		if len(l.CallIDs) > 0 {
			e.CallID = d.callByVendor(p, l.CallIDs[0]).CallID
		}
		if len(l.CRMLeads) > 0 {
			e.CRMLeadID = l.CRMLeads[0]
		}
		for _, id := range l.CallIDs {
			d.callByVendor(p, id).LeadID = e.LeadID
		}
		d.leads = append(d.leads, e)
	}

	// Deals: linked by the CRM lead or call they carry, else to the person's
	// latest lead before the deal was created, else its first lead.
	for _, k := range sortedKeys(p.Deals) {
		dl := p.Deals[k]
		st := dl.State()
		e := &entity.Deal{
			Meta: meta, DealID: a.id("deal", dl.Provider, dl.CRMID), Provider: dl.Provider, CRMDealID: dl.CRMID,
			PersonID: p.ID, CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt, Pipeline: st.Pipeline, Stage: st.Stage,
			Outcome: st.Outcome, AmountMinor: st.Amount, Currency: st.Currency, RevenueMinor: st.Revenue,
			WonAt: st.WonAt, Changes: len(dl.Changes), Units: st.Units,
		}
		var l *entity.Lead
		if st.CRMLeadID != "" {
			l = leadOf(d.leads, folded, func(f *lead.Lead) []string { return f.CRMLeads }, dl.Provider+":"+st.CRMLeadID)
		}
		if l == nil && st.CallID != "" {
			l = leadOf(d.leads, folded, func(f *lead.Lead) []string { return f.CallIDs }, st.CallID)
		}
		switch {
		case l != nil:
		default:
			for _, x := range d.leads {
				if x.TS <= st.CreatedAt || l == nil {
					l = x
				}
				if x.TS > st.CreatedAt {
					break
				}
			}
		}
		if l != nil {
			e.LeadID = l.LeadID
			l.Deals++
			if st.Outcome == lead.Won {
				l.WonDeals++
			}
			l.RevenueMinor += st.Revenue
		}
		d.deals = append(d.deals, e)
	}

	// Attribution of every lead over its touches in the lookback window.
	if len(d.leads) > 0 {
		d.attr = make([][]*entity.Attribution, len(d.leads))
		for i, l := range d.leads {
			d.attr[i] = a.attribute(l, touches)
		}
	}
	return d
}

// callByVendor is the derived call of vendor call id id: of p.Calls (one per
// id, addCall keeps it so) the one with that id; d.calls[i] is p.Calls[i].
func (d *derived) callByVendor(p *Person, id string) *entity.Call {
	for i := len(p.Calls) - 1; i >= 0; i-- {
		if p.Calls[i].CallID == id {
			return d.calls[i]
		}
	}
	return nil
}

// leadOf is the lead whose folded contacts list id among ids(f), the last
// such lead when several do.
func leadOf(leads []*entity.Lead, folded []lead.Lead, ids func(*lead.Lead) []string, id string) *entity.Lead {
	for i := len(folded) - 1; i >= 0; i-- {
		for _, x := range ids(&folded[i]) {
			if x == id {
				return leads[i]
			}
		}
	}
	return nil
}

// sessions derives the sessions of one client of p, in time order.
func (a *Account) sessions(p *Person, cid string) []*entity.Session {
	c := p.Clients[cid]
	ss := session.SessionizeInto(a.sessBuf, c.Hits, c.Origins, a.settings.SessionGap)
	a.sessBuf = ss
	ym, ga := clientWebIDs(p.Keys, cid)
	out := make([]*entity.Session, len(ss))
	es := make([]entity.Session, len(ss)) // one allocation for the client's sessions
	for i, s := range ss {
		es[i] = a.session(p, cid, ym, ga, s)
		out[i] = &es[i]
	}
	return out
}

// session is the entity of session s of client cid of p, who carried the
// web-analytics ids ym and ga.
func (a *Account) session(p *Person, cid, ym, ga string, s session.Session) entity.Session {
	return entity.Session{
		YMClientID: ym, GAClientID: ga,
		Meta: entity.Meta{Tenant: a.Tenant, Account: a.Account}, SessionID: a.id("session", cid, s.FirstID), ClientID: cid, PersonID: p.ID,
		Start: s.Start, End: s.End, DurationMS: s.End - s.Start, Hits: s.Hits,
		Channel: s.Origin.Channel, Source: s.Origin.Source.Source, Medium: s.Origin.Medium,
		Campaign: s.Origin.Campaign, Content: s.Origin.Content, Term: s.Origin.Term,
		ClickParam: s.Origin.ClickParam, ClickID: s.Origin.ClickID,
		LandingPage: s.Landing, Referrer: s.Origin.Referrer, FirstEvent: s.FirstID,
	}
}

// attribute computes a lead's rows under every model, and sets the lead's
// channel from last_non_direct.
func (a *Account) attribute(l *entity.Lead, all []touch) []*entity.Attribution {
	from := l.TS - a.settings.Lookback.Milliseconds()
	first, last, n := -1, -1, 0 // touches are in time order: those in the window are a run
	for i, t := range all {
		if t.ts >= from && t.ts <= l.TS {
			if first < 0 {
				first = i
			}
			last = i
			n++
		}
	}
	var ts []touch
	var mt []attribution.Touch
	if n > 0 && last-first+1 == n { // a run, as expected: no copy
		ts = all[first : last+1 : last+1]
	} else {
		for _, t := range all {
			if t.ts >= from && t.ts <= l.TS {
				ts = append(ts, t)
			}
		}
	}
	if len(ts) > 0 {
		mt = make([]attribution.Touch, len(ts))
		for i, t := range ts {
			mt[i] = attribution.Touch{TS: t.ts, Direct: t.src.IsDirect()}
		}
	}
	l.Touches = len(ts)
	if len(ts) == 0 {
		ts = []touch{{ts: l.TS, src: channel.Source{Channel: channel.None, Source: channel.None, Medium: channel.None}}}
	}
	// One allocation for the lead's rows.
	vals := make([]entity.Attribution, len(attribution.Models)*len(ts))
	rows := make([]*entity.Attribution, 0, len(vals))
	one := []float64{1}
	for _, m := range attribution.Models {
		w := one
		if len(mt) > 0 {
			w = attribution.Weights(m, mt, l.TS, a.params)
		}
		for i, t := range ts {
			v := &vals[len(rows)]
			*v = entity.Attribution{
				Meta: entity.Meta{Tenant: a.Tenant, Account: a.Account}, LeadID: l.LeadID, Model: m,
				Touch: i, Touches: len(ts), LeadTS: l.TS, TouchTS: t.ts, SessionID: t.sessionID,
				Channel: t.src.Channel, Source: t.src.Source, Medium: t.src.Medium, Campaign: t.src.Campaign,
				Weight: w[i], RevenueMinor: float64(l.RevenueMinor) * w[i],
			}
			rows = append(rows, v)
			if m == attribution.LastNonDirect && w[i] == 1 {
				l.Channel, l.Source, l.Medium, l.Campaign = t.src.Channel, t.src.Source, t.src.Medium, t.src.Campaign
			}
		}
	}
	return rows
}

func sortedKeys[V any](m map[string]V) []string {
	return appendSortedKeys(make([]string, 0, len(m)), m)
}

// appendSortedKeys is sortedKeys appending to dst (a buffer on the caller's stack).
func appendSortedKeys[V any](dst []string, m map[string]V) []string {
	out := dst
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out[len(dst):])
	return out
}
