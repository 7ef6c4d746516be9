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
	attr     map[string][]*entity.Attribution // lead id → rows, model-major
	// clientSessions are the sessions by client id.
	clientSessions map[string][]*entity.Session
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
	clientSessions := map[string][]*entity.Session{}
	for _, cid := range sortedKeys(p.Clients) {
		ss := a.sessions(p, cid)
		d.sessions = append(d.sessions, ss...)
		clientSessions[cid] = ss
	}
	d.clientSessions = clientSessions
	var touches []touch
	for _, s := range d.sessions {
		touches = append(touches, touch{ts: s.Start, sessionID: s.SessionID, src: channel.Source{
			Channel: s.Channel, Source: s.Source, Medium: s.Medium, Campaign: s.Campaign}})
	}

	// Calls: matched to the latest session of their clients that started
	// before the call, else to the static number's channel.
	contacts := append([]lead.Contact(nil), p.Contacts...)
	callByVendor := map[string]*entity.Call{}
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
			for _, s := range clientSessions[cid] {
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
		callByVendor[c.CallID] = e
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
	leadByCall, leadByCRM := map[string]*entity.Lead{}, map[string]*entity.Lead{}
	for _, l := range folded {
		e := &entity.Lead{
			Meta: meta, LeadID: a.id("lead", l.First.ID), PersonID: p.ID, TS: l.First.TS, Kind: l.First.Kind,
			FirstEvent: l.First.ID, Contacts: len(l.Members), LastContactAt: l.LastTS, ClientID: l.First.ClientID,
		}
		if len(l.CallIDs) > 0 {
			e.CallID = callByVendor[l.CallIDs[0]].CallID
		}
		if len(l.CRMLeads) > 0 {
			e.CRMLeadID = l.CRMLeads[0]
		}
		for _, id := range l.CallIDs {
			leadByCall[id] = e
			callByVendor[id].LeadID = e.LeadID
		}
		for _, id := range l.CRMLeads {
			leadByCRM[id] = e
		}
		d.leads = append(d.leads, e)
	}

	// Deals: linked by the CRM lead or call they carry, else to the person's
	// latest lead before the deal was created, else its first lead.
	revenue := map[string]int64{}
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
		switch {
		case st.CRMLeadID != "" && leadByCRM[dl.Provider+":"+st.CRMLeadID] != nil:
			l = leadByCRM[dl.Provider+":"+st.CRMLeadID]
		case st.CallID != "" && leadByCall[st.CallID] != nil:
			l = leadByCall[st.CallID]
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
			revenue[l.LeadID] += st.Revenue
		}
		d.deals = append(d.deals, e)
	}

	// Attribution of every lead over its touches in the lookback window.
	d.attr = map[string][]*entity.Attribution{}
	for _, l := range d.leads {
		d.attr[l.LeadID] = a.attribute(l, touches)
	}
	return d
}

// sessions derives the sessions of one client of p, in time order.
func (a *Account) sessions(p *Person, cid string) []*entity.Session {
	c := p.Clients[cid]
	ss := session.Sessionize(c.Hits, c.Origins, a.settings.SessionGap)
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
	var ts []touch
	var mt []attribution.Touch
	for _, t := range all {
		if t.ts >= from && t.ts <= l.TS {
			ts = append(ts, t)
			mt = append(mt, attribution.Touch{TS: t.ts, Direct: t.src.IsDirect()})
		}
	}
	l.Touches = len(ts)
	if len(ts) == 0 {
		ts = []touch{{ts: l.TS, src: channel.Source{Channel: channel.None, Source: channel.None, Medium: channel.None}}}
	}
	var rows []*entity.Attribution
	for _, m := range attribution.Models {
		w := []float64{1}
		if len(mt) > 0 {
			w = attribution.Weights(m, mt, l.TS, a.params)
		}
		for i, t := range ts {
			rows = append(rows, &entity.Attribution{
				Meta: entity.Meta{Tenant: a.Tenant, Account: a.Account}, LeadID: l.LeadID, Model: m,
				Touch: i, Touches: len(ts), LeadTS: l.TS, TouchTS: t.ts, SessionID: t.sessionID,
				Channel: t.src.Channel, Source: t.src.Source, Medium: t.src.Medium, Campaign: t.src.Campaign,
				Weight: w[i], RevenueMinor: float64(l.RevenueMinor) * w[i],
			})
			if m == attribution.LastNonDirect && w[i] == 1 {
				l.Channel, l.Source, l.Medium, l.Campaign = t.src.Channel, t.src.Source, t.src.Medium, t.src.Campaign
			}
		}
	}
	return rows
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
