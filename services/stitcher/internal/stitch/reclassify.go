package stitch

import (
	"sort"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
	"github.com/throughline/throughline/services/stitcher/internal/identity"
	"github.com/throughline/throughline/services/stitcher/internal/session"
)

// IsRestatement reports whether e is a restatement record: written by
// `throughline restate` straight to the raw topic, never by the collector.
func IsRestatement(e *event.Envelope) bool {
	return e.Type == event.TypeRestate && e.Source == event.SourceRestate
}

// reclassify re-decides the traffic source of one hit already applied, from
// the hit's inputs as the events table kept them, under today's rules, and
// re-derives its person: sessions re-cut by the new sources, leads and
// attribution that follow them. Only entities whose content changed are
// emitted, with new versions, so a second restatement under the same rules
// emits nothing. A hit no longer in state (its person expired, or beyond
// max_hits_per_client) has nothing to restate.
func (a *Account) reclassify(e event.Envelope) []Record {
	hitID := e.Props[event.RestateHit]
	if e.ClientID == "" || hitID == "" {
		return nil // the run's start and done markers
	}
	a.meta.Restated++
	pid, ok := a.graph.Owner(identity.Client(e.ClientID))
	p := a.persons[pid]
	if !ok || p == nil || p.Clients[e.ClientID] == nil {
		a.meta.RestateMissed++
		return nil
	}
	c := p.Clients[e.ClientID]
	h := session.Hit{TS: e.TS, ID: hitID}
	i := sort.Search(len(c.Hits), func(i int) bool { return !session.Less(c.Hits[i], h) })
	if i == len(c.Hits) || c.Hits[i].TS != e.TS || c.Hits[i].ID != hitID {
		a.meta.RestateMissed++
		return nil
	}
	src := a.cls.Classify(channel.Input{
		URL: e.URL, Referrer: e.Referrer, ClickIDs: e.ClickIDs,
		UTMSource: e.UTM.Source, UTMMedium: e.UTM.Medium, UTMCampaign: e.UTM.Campaign,
		UTMContent: e.UTM.Content, UTMTerm: e.UTM.Term, OwnDomains: a.settings.OwnDomains,
	})
	o := session.Origin{Source: src}
	if !src.IsDirect() {
		o.Referrer = e.Referrer
	}
	old := session.Origin{Source: channel.DirectSource}
	if s := c.Hits[i].Src; s >= 0 && int(s) < len(c.Origins) {
		old = c.Origins[s]
	}
	if old == o {
		return nil
	}
	c.Hits[i].Src = c.origin(o)
	c.compactOrigins()
	a.dirty[pid] = true
	a.metaMod = true
	return a.restate(p)
}

// origin is the index of o in the client's origin table, added if new; -1
// for a direct source.
func (c *Client) origin(o session.Origin) int32 {
	if o.IsDirect() {
		return -1
	}
	for i, x := range c.Origins {
		if x == o {
			return int32(i)
		}
	}
	c.Origins = append(c.Origins, o)
	return int32(len(c.Origins) - 1)
}

// compactOrigins drops origins no hit refers to any more, keeping the rest
// in order, so restatements do not grow the state.
func (c *Client) compactOrigins() {
	used := make([]bool, len(c.Origins))
	for _, h := range c.Hits {
		if h.Src >= 0 && int(h.Src) < len(used) {
			used[h.Src] = true
		}
	}
	remap := make([]int32, len(c.Origins))
	kept := c.Origins[:0]
	for i, o := range c.Origins {
		remap[i] = -1
		if used[i] {
			remap[i] = int32(len(kept))
			kept = append(kept, o)
		}
	}
	if len(kept) == len(remap) {
		return
	}
	clear(c.Origins[len(kept):])
	c.Origins = kept
	for i := range c.Hits {
		if s := c.Hits[i].Src; s >= 0 && int(s) < len(remap) {
			c.Hits[i].Src = remap[s]
		}
	}
}
