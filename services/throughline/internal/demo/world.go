package demo

import (
	"container/heap"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// Kinds of the requests besides visits, for the sender's counters.
const (
	kindCalls = iota
	kindCRM
	kindCosts
	kindNumbers // leases of Throughline's pool numbers
	kindChats   // chat widgets' webhooks
	numKinds
)

var kindNames = [numKinds]string{"calls", "crm", "costs", "numbers", "chats"}

// hookReq is one request of a call tracker, a CRM, a cost upload or a
// pool number lease.
type hookReq struct {
	kind   int
	method string
	target string // path and query
	ctype  string
	header map[string]string
	body   []byte
	// before runs right before the request is first sent: it sets the
	// simulated CRM's state to what the change left, so the collector's
	// pull reads exactly that.
	before func()
	// answered, when set, reads the body of the 2xx answer (on a sender
	// goroutine).
	answered func([]byte)
}

// action is something the network's systems do at a time. Actions of one
// lane (a CRM lead's changes) are sent in order, one at a time; lane 0 may
// go in parallel with anything.
type action struct {
	due  time.Time
	seq  uint64
	lane uint64
	make func(at time.Time) []*hookReq
}

// crmHorizon is the longest a lead waits for its outcome; in live mode the
// CRM's clock runs crmHorizon/trickle times faster (see goLive).
const crmHorizon = 14 * 24 * time.Hour

// msk is the demo network's time zone: its days, business hours and cost
// report dates.
var msk = time.FixedZone("MSK", 3*3600)

// world is what the network's systems do because of the visits: calls to
// the tracking numbers, leads and deals in the branches' CRMs, the ad spend
// of the clicks. It is driven by the sim and, like it, deterministic for a
// seed and not safe for concurrent use.
type world struct {
	r         *rand.Rand
	branches  []*branch
	weights   []float64 // relative size of each branch, the largest 1
	lines     []lines   // tracking numbers of each branch
	tenantKey string
	idBase    uint64 // keeps the CRM and call ids of one run apart from another's
	ids       uint64
	seq       uint64
	actions   actionHeap
	day       time.Time // start of the current day (MSK); zero before the first hit
	scale     float64   // how CRM delays are stretched: 1 in history, < 1 live
	live      bool
	book      costBook
	firstDay  time.Time   // the first (partial) day of traffic
	usual     usualClicks // history's clicks of whole days: live spend's pattern
	liveFrom  time.Time   // when the network went live
	tally     *tally
	store     *crmStore // nil until Run serves the simulated CRMs
	story     episodes  // the live story's incidents (story.go)
}

func newWorld(seed int64, branches []*branch, tenantKey, runID string) *world {
	w := &world{
		r:         rand.New(rand.NewPCG(uint64(seed), 0x776f726c64)),
		branches:  branches,
		tenantKey: tenantKey,
		idBase:    hash64(runID)%90_000*1_000_000 + 10_000_000_000,
		scale:     1,
		book:      costBook{},
		tally:     &tally{},
	}
	for i, b := range branches {
		w.weights = append(w.weights, 1/math.Pow(float64(i+1), 0.7)) // the size curve visits follow
		w.lines = append(w.lines, linesOf(b.acct))
		b.crm = newCRMBranch(b.acct)
	}
	return w
}

// nextID is a fresh numeric id for calls and CRM entities.
func (w *world) nextID() uint64 {
	w.ids++
	return w.idBase + w.ids
}

// at schedules an action; delays of CRM changes are scaled by the caller.
func (w *world) at(due time.Time, lane uint64, make func(time.Time) []*hookReq) {
	w.seq++
	heap.Push(&w.actions, &action{due: due, seq: w.seq, lane: lane, make: make})
}

// crmDelay is d on the CRM's clock: as is in history, compressed live.
func (w *world) crmDelay(d time.Duration) time.Duration {
	return max(time.Duration(float64(d)*w.scale), time.Second)
}

// due returns the actions due at now, in order, after closing the days now
// has left behind: their cost reports are uploaded and the next day's
// offline calls are planned.
func (w *world) due(now time.Time) []*action {
	w.advance(now)
	if w.live {
		w.amountsEntered(now)
	}
	var out []*action
	for len(w.actions) > 0 && !w.actions[0].due.After(now) {
		out = append(out, heap.Pop(&w.actions).(*action))
	}
	return out
}

func (w *world) advance(now time.Time) {
	day := dayOf(now)
	if w.day.IsZero() {
		w.day, w.firstDay = day, day
		w.planOfflineCalls(day, now)
		return
	}
	for w.day.Before(day) {
		closed := w.day
		w.at(now, 0, func(time.Time) []*hookReq { return w.costUploads(closed, true, closed.AddDate(0, 0, 1)) })
		w.day = w.day.AddDate(0, 0, 1)
		w.planOfflineCalls(w.day, w.day)
	}
}

// goLive switches the CRM clock to live: what the history left pending —
// stage changes and outcomes of leads still open — arrives over the next
// trickle, in order, and new leads close on the same compressed clock.
// It returns the uploads of today's spend so far.
func (w *world) goLive(now time.Time, trickle time.Duration) []*hookReq {
	w.advance(now)
	w.live, w.liveFrom = true, now
	w.scale = float64(trickle) / float64(crmHorizon)
	for _, a := range w.actions {
		if a.lane != 0 && a.due.After(now) {
			a.due = now.Add(time.Duration(float64(a.due.Sub(now)) * w.scale))
		}
	}
	heap.Init(&w.actions)
	return w.costUploads(w.day, false, now)
}

// dayOf is the start of t's day in the network's time zone.
func dayOf(t time.Time) time.Time {
	y, m, d := t.In(msk).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, msk)
}

// hash01 is a stable pseudo-random number in [0, 1) for a key: noise that
// must not change when a day's costs are restated.
func hash01(parts ...string) float64 {
	return float64(hash64(parts...)>>11) / (1 << 53)
}

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// actionHeap orders actions by due time, then by creation.
type actionHeap []*action

func (h actionHeap) Len() int { return len(h) }
func (h actionHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h actionHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *actionHeap) Push(x any)   { *h = append(*h, x.(*action)) }
func (h *actionHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return a
}
