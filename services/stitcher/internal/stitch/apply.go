package stitch

import (
	"slices"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
	"github.com/throughline/throughline/services/stitcher/internal/identity"
	"github.com/throughline/throughline/services/stitcher/internal/lead"
	"github.com/throughline/throughline/services/stitcher/internal/session"
)

// apply records one event in its person's state and returns the records of
// the entities that changed.
func (a *Account) apply(e event.Envelope) []Record {
	a.meta.Applied++
	a.applying = e.TS
	if e.TS > a.meta.AppliedTS {
		a.meta.AppliedTS = e.TS
	}
	defer a.prune()
	switch e.Type {
	case event.TypeCall:
		return a.applyCall(e)
	case event.TypeCRM:
		return a.applyCRM(e)
	case event.TypeCost:
		return nil // costs go to their own table; they touch no person
	case event.TypeNumberLease:
		a.applyLease(e) // a lease is no page view: it links calls, touches no person
		return nil
	default:
		return a.applyHit(e)
	}
}

func (a *Account) applyHit(e event.Envelope) []Record {
	var matched []string
	if k := identity.Phone(e.Phone); k != "" {
		matched = append(matched, k)
	}
	if k := identity.Email(e.Email); k != "" {
		matched = append(matched, k)
	}
	if e.ClientID == "" {
		return a.applyAnonymousChat(e, matched)
	}
	p := a.link(append([]string{identity.Client(e.ClientID)}, webKeys(e)...), matched)
	src := a.cls.Classify(channel.Input{
		URL: e.URL, Referrer: e.Referrer, ClickIDs: e.ClickIDs,
		UTMSource: e.UTM.Source, UTMMedium: e.UTM.Medium, UTMCampaign: e.UTM.Campaign,
		UTMContent: e.UTM.Content, UTMTerm: e.UTM.Term, OwnDomains: a.settings.OwnDomains,
	})
	ref := ""
	if !src.IsDirect() {
		ref = e.Referrer
	}
	if _, had := p.Clients[e.ClientID]; !had {
		a.clients++
	}
	p.addHit(e.ClientID, session.Hit{TS: e.TS, ID: e.ID, Page: e.URL}, src, ref, a.settings.MaxHitsPerClient)
	if e.Type == event.TypeGoal {
		kind := ""
		switch {
		case slices.Contains(a.settings.ChatGoals, e.Name):
			kind = lead.KindChat
		case len(matched) > 0 || slices.Contains(a.settings.FormGoals, e.Name):
			kind = lead.KindForm
		}
		if kind != "" {
			p.addContact(lead.Contact{TS: e.TS, ID: e.ID, Kind: kind, ClientID: e.ClientID})
			p.derived = false // a contact can make or change a lead: derived in full
		}
	}
	p.touch(e.TS)
	a.hits++
	if out, ok := a.restateClient(p, e.ClientID, e.TS); ok {
		a.shortcuts++
		return out
	}
	return a.restate(p)
}

// applyAnonymousChat records a chat that came without a client id — an
// offline message a visitor left in a chat widget with a phone — as a chat
// contact of the person the phone or e-mail is, like a call from an unknown
// number. It touches no session: there was no page view of ours.
func (a *Account) applyAnonymousChat(e event.Envelope, matched []string) []Record {
	if e.Type != event.TypeGoal || len(matched) == 0 || !slices.Contains(a.settings.ChatGoals, e.Name) {
		return nil
	}
	p := a.link(nil, matched)
	if p == nil {
		return nil
	}
	p.addContact(lead.Contact{TS: e.TS, ID: e.ID, Kind: lead.KindChat})
	p.touch(e.TS)
	return a.restate(p)
}

func (a *Account) applyCall(e event.Envelope) []Record {
	c := e.Call
	if c == nil || c.CallID == "" {
		return nil
	}
	explicit := []string{identity.Call(c.CallID)}
	clients := a.leaseClients(c, e.TS)
	for _, id := range clients {
		if id != "" {
			explicit = append(explicit, identity.Client(id))
		}
	}
	var matched []string
	caller := identity.Phone(c.CallerPhone)
	if caller != "" && c.Direction != "out" {
		matched = append(matched, caller)
	}
	p := a.link(explicit, matched)
	provider := c.Provider
	if provider == "" {
		provider = e.Source
	}
	p.addCall(lead.Call{
		TS: e.TS, EventID: e.ID, CallID: c.CallID, Provider: provider, Caller: trimKey(caller),
		TrackingNumber: c.TrackingNumber, Answered: c.Answered, TalkSec: c.TalkSec, WaitSec: c.WaitSec,
		ClientIDs: clients, Channel: c.Channel, RecordingURL: c.RecordingURL,
	})
	p.touch(e.TS)
	return a.restate(p)
}

func (a *Account) applyCRM(e event.Envelope) []Record {
	m := e.CRM
	if m == nil {
		return nil
	}
	var explicit, matched []string
	add := func(dst *[]string, k string) {
		if k != "" {
			*dst = append(*dst, k)
		}
	}
	if m.LeadID != "" {
		add(&explicit, identity.CRM(m.Provider, "lead", m.LeadID))
	}
	if m.DealID != "" {
		add(&explicit, identity.CRM(m.Provider, "deal", m.DealID))
	}
	if m.ContactID != "" {
		add(&explicit, identity.CRM(m.Provider, "contact", m.ContactID))
	}
	if m.ClientID != "" {
		add(&explicit, identity.Client(m.ClientID))
	}
	if m.CallID != "" {
		add(&explicit, identity.Call(m.CallID))
	}
	for _, ph := range m.Phones {
		add(&matched, identity.Phone(ph))
	}
	for _, em := range m.Emails {
		add(&matched, identity.Email(em))
	}
	p := a.link(explicit, matched)
	if p == nil {
		return nil
	}
	if m.Entity == "lead" && m.LeadID != "" && m.Action != "delete" {
		p.addContact(lead.Contact{TS: e.TS, ID: "crm:" + m.Provider + ":" + m.LeadID, Kind: lead.KindCRM,
			ClientID: m.ClientID, CRMLeadID: m.Provider + ":" + m.LeadID})
	}
	if m.DealID != "" {
		at := m.UpdatedAt
		if at == 0 {
			at = e.TS
		}
		p.addDealChange(m.Provider, m.DealID, lead.Change{
			At: at, TS: e.TS, EventID: e.ID, Pipeline: m.Pipeline, Stage: m.Stage, Outcome: m.Outcome,
			Amount: m.Amount, Currency: m.Currency, CRMLeadID: m.LeadID, CallID: m.CallID, Units: m.Units,
		})
	}
	p.touch(e.TS)
	return a.restate(p)
}

func trimKey(k string) string {
	if len(k) > 2 && k[1] == ':' {
		return k[2:]
	}
	return k
}

// link resolves the event's person, merging persons the event proves to be
// one; merged-away persons' state moves into the survivor.
func (a *Account) link(explicit, matched []string) *Person {
	id, absorbed := a.graph.Link(explicit, matched)
	if id == "" {
		return nil
	}
	p := a.persons[id]
	if p == nil {
		p = newPerson(id)
		a.persons[id] = p
		a.expiry.file(id, p, a.applying) // it is touched at that time
	}
	for _, q := range absorbed {
		p.derived = false // merged: derived in full
		if qp := a.persons[q]; qp != nil {
			p.absorb(qp)
			delete(a.persons, q)
			*qp = Person{} // its expiry entry keeps it until its bucket is due: keep nothing
		}
		a.dirty[q] = false
	}
	if keys := a.graph.Keys(id); !slices.Equal(keys, p.Keys) {
		p.Keys = keys
		p.derived = false // new keys (web-analytics ids) can change sessions and call matching: derived in full
	}
	a.dirty[id] = true
	return p
}
