package stitch

import (
	"math"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/services/stitcher/internal/session"
)

// Incremental derivation. Most events are page views that extend a
// client's session or start a new one after everything else the person did.
// Such a hit can change nothing but that client's sessions: the person's
// calls, leads, deals and attribution read a session only as a touch — its
// id, start and source — and only when it starts no later than a call
// (matching) or a lead (its attribution window). restateClient re-derives
// just the client's sessions and emits those whose content changed, when it
// can show the rest would derive the same:
//
//   - the person was derived in full since it was restored, merged, given a
//     contact or new identity keys (web-analytics ids change sessions and
//     call matching: webids.go) (derived), and
//   - the client's touches as of then are a prefix of its touches now, and
//     every session added since starts after the person's newest lead and
//     call.
//
// Otherwise restate derives the whole person. Either way the records, their
// order and versions are the same as a full derivation gives: the changelog
// and every output are unchanged by the shortcut, which
// TestIncrementalMatchesFull checks against full derivation event by event.

// restateClient is restate for a hit at ts of client cid of p, when the hit
// can have changed only that client's sessions; ok false: derive in full.
// Sessions are cut left to right, so a hit changes no session that ended
// before it (it joins the last one that did not, or starts its own): only
// the sessions from the hit's on are built and compared — unless the hit
// pushed the client's oldest hit out (MaxHitsPerClient), which re-cuts the
// first session.
func (a *Account) restateClient(p *Person, cid string, ts int64) (out []Record, ok bool) {
	c := p.Clients[cid]
	if !p.derived || c == nil || c.touches == 0 || a.full || len(c.Hits) >= a.settings.MaxHitsPerClient {
		return nil, false // a client new to the person has no touches summarized
	}
	ss := session.SessionizeInto(a.sessBuf, c.Hits, c.Origins, a.settings.SessionGap)
	a.sessBuf = ss
	if len(ss) < c.touches {
		return nil, false
	}
	h := newHasher()
	for i := range ss[:c.touches] {
		h.touch(&ss[i])
	}
	if uint64(h) != c.touchesSum {
		return nil, false
	}
	if len(ss) > c.touches && ss[c.touches].Start <= max(p.lastLeadTS, p.lastCallTS) {
		return nil, false
	}
	for i := range ss[c.touches:] {
		h.touch(&ss[c.touches+i])
	}
	c.touches, c.touchesSum = len(ss), uint64(h)
	ym, ga := clientWebIDs(p.Keys, cid)
	for _, s := range ss {
		if s.End < ts {
			continue
		}
		e := a.session(p, cid, ym, ga, s)
		out = a.put(p, out, KindSession, e.SessionID, &e, &e.Meta, fpSession(&e))
	}
	return out, true
}

// summarize records what restateClient compares with: each client's
// touches and the person's newest lead and call, as derived in d.
func (p *Person) summarize(d *derived) {
	for _, cs := range d.clients {
		h := newHasher()
		for _, s := range cs.sessions {
			h.touchEntity(s)
		}
		c := p.Clients[cs.id]
		c.touches, c.touchesSum = len(cs.sessions), uint64(h)
	}
	p.lastLeadTS, p.lastCallTS = math.MinInt64, math.MinInt64
	for _, l := range d.leads {
		p.lastLeadTS = max(p.lastLeadTS, l.TS)
	}
	for _, c := range d.calls {
		p.lastCallTS = max(p.lastCallTS, c.TS)
	}
	p.derived = true
}

// touch hashes what of a session the person's other entities read: its id
// (a function of the client and its first hit), start and source.
func (h *hasher) touch(s *session.Session) {
	h.s(s.FirstID)
	h.i(s.Start)
	h.s(s.Origin.Channel)
	h.s(s.Origin.Source.Source)
	h.s(s.Origin.Medium)
	h.s(s.Origin.Campaign)
}

// touchEntity is touch of a derived session.
func (h *hasher) touchEntity(s *entity.Session) {
	h.s(s.FirstEvent)
	h.i(s.Start)
	h.s(s.Channel)
	h.s(s.Source)
	h.s(s.Medium)
	h.s(s.Campaign)
}
