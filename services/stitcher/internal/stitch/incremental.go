package stitch

import (
	"math"

	"github.com/throughline/throughline/pkg/contract/entity"
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
//   - the person was derived in full since it was restored, merged or given
//     a contact (derived), and
//   - the client's touches as of then are a prefix of its touches now, and
//     every session added since starts after the person's newest lead and
//     call.
//
// Otherwise restate derives the whole person. Either way the records, their
// order and versions are the same as a full derivation gives: the changelog
// and every output are unchanged by the shortcut, which
// TestIncrementalMatchesFull checks against full derivation event by event.

// restateClient is restate for a hit of client cid of p, when the hit can
// have changed only that client's sessions; ok false: derive in full.
func (a *Account) restateClient(p *Person, cid string) (out []Record, ok bool) {
	c := p.Clients[cid]
	if !p.derived || c == nil || c.touches == 0 || a.full { // a client new to the person has no touches summarized
		return nil, false
	}
	ss := a.sessions(p, cid)
	if len(ss) < c.touches {
		return nil, false
	}
	h := newHasher()
	for _, s := range ss[:c.touches] {
		h.touch(s)
	}
	if uint64(h) != c.touchesSum {
		return nil, false
	}
	if len(ss) > c.touches && ss[c.touches].Start <= max(p.lastLeadTS, p.lastCallTS) {
		return nil, false
	}
	for _, s := range ss[c.touches:] {
		h.touch(s)
	}
	c.touches, c.touchesSum = len(ss), uint64(h)
	for _, s := range ss {
		out = a.put(p, out, KindSession, s.SessionID, s, &s.Meta, fpSession(s))
	}
	return out, true
}

// summarize records what restateClient compares with: each client's
// touches and the person's newest lead and call, as derived in d.
func (p *Person) summarize(d *derived) {
	for cid, c := range p.Clients {
		h := newHasher()
		ss := d.clientSessions[cid]
		for _, s := range ss {
			h.touch(s)
		}
		c.touches, c.touchesSum = len(ss), uint64(h)
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

// touch hashes what of a session the person's other entities read.
func (h *hasher) touch(s *entity.Session) {
	h.s(s.SessionID)
	h.i(s.Start)
	h.s(s.Channel)
	h.s(s.Source)
	h.s(s.Medium)
	h.s(s.Campaign)
}
