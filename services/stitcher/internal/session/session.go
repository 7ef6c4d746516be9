// Package session groups one client's hits into sessions: a session ends after
// a gap with no hits (30 minutes by default), and a hit with a new non-direct
// traffic source (new campaign, click id or external referrer) starts a new one.
package session

import (
	"sort"
	"time"

	"github.com/throughline/throughline/services/stitcher/internal/channel"
)

// Hit is what sessionizing keeps of one hit. Src indexes the client's origin
// table, -1 for a direct hit; storing origins once keeps state small.
type Hit struct {
	TS   int64  `json:"t"`
	ID   string `json:"i"`
	Page string `json:"p,omitempty"`
	Src  int32  `json:"s"`
}

// Origin is a classified source with the referrer it came with.
type Origin struct {
	channel.Source
	Referrer string `json:"referrer,omitempty"`
}

// Session is one run of hits.
type Session struct {
	FirstID string
	Start   int64
	End     int64
	Hits    int
	Origin  Origin
	Landing string
}

// Less orders hits by time, then id: the order every computation uses.
func Less(a, b Hit) bool {
	if a.TS != b.TS {
		return a.TS < b.TS
	}
	return a.ID < b.ID
}

// Insert adds h to hits kept in order, ignoring a duplicate id at the same time.
func Insert(hits []Hit, h Hit) []Hit {
	i := sort.Search(len(hits), func(i int) bool { return !Less(hits[i], h) })
	if i < len(hits) && hits[i].TS == h.TS && hits[i].ID == h.ID {
		return hits
	}
	hits = append(hits, Hit{})
	copy(hits[i+1:], hits[i:])
	hits[i] = h
	return hits
}

// Sessionize splits ordered hits into sessions. origins[h.Src] is each hit's
// source; a hit with Src < 0 is direct.
func Sessionize(hits []Hit, origins []Origin, gap time.Duration) []Session {
	return SessionizeInto(nil, hits, origins, gap)
}

// SessionizeInto is Sessionize reusing out's storage (its contents are
// overwritten): a caller that sessionizes on every event and copies the
// sessions out at once keeps one buffer instead of growing a new one.
func SessionizeInto(out []Session, hits []Hit, origins []Origin, gap time.Duration) []Session {
	out = out[:0]
	gapMS := gap.Milliseconds()
	var cur *Session
	for _, h := range hits {
		o := Origin{Source: channel.DirectSource}
		if h.Src >= 0 && int(h.Src) < len(origins) {
			o = origins[h.Src]
		}
		newSource := !o.IsDirect() && cur != nil && o.Source != cur.Origin.Source
		if cur == nil || h.TS-cur.End > gapMS || newSource {
			out = append(out, Session{FirstID: h.ID, Start: h.TS, End: h.TS, Origin: o, Landing: h.Page})
			cur = &out[len(out)-1]
		}
		cur.End = h.TS
		cur.Hits++
	}
	return out
}
