package demo

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// economics is what a channel's clicks cost and what its leads buy — the
// numbers behind the demo's story: yandex_direct pays for itself several
// times over, vk_ads brings leads that rarely buy and loses money, and the
// yekaterinburg branch marks deals won without entering their amount.
type economics struct {
	cpc     int64   // kopecks per click (paid channels)
	won     float64 // share of leads that become won deals
	deal    int64   // average won deal, roubles
	qualify float64 // share of leads that never close but reach the trial lesson
}

var story = map[string]economics{
	"yandex_direct": {cpc: 120_00, won: 0.22, deal: 32_000, qualify: 0.6},
	"google_ads":    {cpc: 90_00, won: 0.15, deal: 30_000, qualify: 0.5},
	"vk_ads":        {cpc: 85_00, won: 0.03, deal: 16_000, qualify: 0.3},
	"telegram":      {cpc: 70_00, won: 0.10, deal: 26_000, qualify: 0.5},
	"email":         {cpc: 4_00, won: 0.25, deal: 28_000, qualify: 0.6},
	"organic":       {won: 0.22, deal: 32_000, qualify: 0.6},
	"social":        {won: 0.10, deal: 26_000, qualify: 0.4},
	"direct":        {won: 0.25, deal: 32_000, qualify: 0.6},
	"offline":       {won: 0.18, deal: 30_000, qualify: 0.5},
}

// Story branches and channels, by id.
const (
	// sloppyBranch's managers never enter a deal's expected amount and leave
	// the amount of half their won deals empty in history; live, its CRM
	// stops sending amounts for a while (episodes): the "won without amount"
	// alert. Config.NoAmountsBranch names another.
	sloppyBranch = "yekaterinburg"
	// silentChannel goes silent for a while live: the "no leads" alert.
	silentChannel = "telegram"
	// blockedBranch's Bitrix24 portal has blocked the REST webhook for
	// overload (OVERLOAD_LIMIT) when the demo starts: its first blockedPulls
	// events cannot be pulled and are dead-lettered "fetch failed", to be
	// re-driven with `throughline redrive --source crm:bitrix24`.
	blockedBranch = "novosibirsk"
	blockedPulls  = 3
	// offlineRent is a branch's daily billboard and flyer spend, kopecks,
	// for the largest branch (smaller branches spend less).
	offlineRent = 6_000_00
)

// tally is the story as the simulator wrote it, per channel — the truth
// the reports should come close to (they attribute by sessions, the tally
// by the converting visit).
type tally struct {
	mu sync.Mutex
	ch map[string]*channelTally
}

type channelTally struct {
	Clicks, Leads, Won, Lost int64
	Cost, Revenue            int64 // kopecks
}

func (t *tally) add(channel string, f func(*channelTally)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ch == nil {
		t.ch = map[string]*channelTally{}
	}
	c := t.ch[channel]
	if c == nil {
		c = &channelTally{}
		t.ch[channel] = c
	}
	f(c)
}

// snapshot copies the tally.
func (t *tally) snapshot() map[string]channelTally {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]channelTally, len(t.ch))
	for k, v := range t.ch {
		out[k] = *v
	}
	return out
}

// log writes one line per channel: spend, leads, won deals, revenue, ROI.
func (t *tally) log(log zerolog.Logger, msg string) {
	snap := t.snapshot()
	names := make([]string, 0, len(snap))
	for k := range snap {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		c := snap[name]
		roi := "n/a"
		if c.Cost > 0 {
			roi = fmt.Sprintf("%+.0f%%", 100*float64(c.Revenue-c.Cost)/float64(c.Cost))
		}
		log.Info().Str("channel", name).Int64("cost_rub", c.Cost/100).Int64("leads", c.Leads).
			Int64("won", c.Won).Int64("lost", c.Lost).Int64("revenue_rub", c.Revenue/100).Str("roi", roi).Msg(msg)
	}
}

// episodes are the live story's two incidents, so that the alerter has
// something to say while the demo runs: a channel goes silent (no visit,
// call or form of it brings a lead) and comes back, and a branch's CRM stops
// sending the amounts of won deals until its managers enter them. Times are
// relative to going live; a zero duration turns an episode off.
type episodes struct {
	channel               string // the silent one, as the pipeline classifies it
	silenceAt, silenceFor time.Duration
	noAmounts             string // branch id
	amountsAt, amountsFor time.Duration

	// Set when going live.
	silenceFrom, silenceTo time.Time
	amountsFrom, amountsTo time.Time
	amountsOver            bool
	missing                []*lead // won deals sent without their amount
	phase                  [2]int  // per episode: 0 before, 1 under way, 2 over (for logs)
}

// start fixes the episodes' times when the network goes live at now.
func (e *episodes) start(now time.Time) {
	if e.channel != "" && e.silenceFor > 0 {
		e.silenceFrom, e.silenceTo = now.Add(e.silenceAt), now.Add(e.silenceAt+e.silenceFor)
	}
	if e.noAmounts != "" && e.amountsFor > 0 {
		e.amountsFrom, e.amountsTo = now.Add(e.amountsAt), now.Add(e.amountsAt+e.amountsFor)
	}
}

// silent reports whether channel brings nobody at t.
func (e *episodes) silent(channel string, t time.Time) bool {
	return channel == e.channel && !e.silenceFrom.IsZero() && !t.Before(e.silenceFrom) && t.Before(e.silenceTo)
}

// silentVisit reports whether a lead from vis at t would be the silent
// channel's: the visit came through it, or the visitor's latest visit not
// direct did (a visitor may have visits open side by side, and the
// pipeline credits the lead to the latest session that was not direct).
func (e *episodes) silentVisit(vis *visit, t time.Time) bool {
	return e.silent(vis.lead, t) || e.silent(vis.v.nonDirect, t) || e.silent(channels[vis.channel].name, t)
}

// skipsAmount reports whether the won deal l closing at t is sent without
// its amount: in history, half the won deals of the story's sloppy branch;
// live, every won deal of the outage's branch while it lasts.
func (w *world) skipsAmount(l *lead, at time.Time) bool {
	if !w.live {
		return l.noAmount
	}
	return w.amountsOff(l, at)
}

// amountsOff reports whether l's CRM sends no amounts at t: the outage.
func (w *world) amountsOff(l *lead, at time.Time) bool {
	e := &w.story
	return w.live && !e.amountsFrom.IsZero() && !e.amountsOver && !at.Before(e.amountsFrom) &&
		w.branches[l.bi].id == e.noAmounts
}

// setSloppy makes id the branch whose managers skip amounts (in place of
// sloppyBranch); it reports whether the branch has a CRM.
func (w *world) setSloppy(id string) bool {
	found := false
	for _, b := range w.branches {
		if b.crm != nil {
			b.crm.sloppy = b.id == id
			found = found || b.id == id
		}
	}
	return found
}

// amountsEntered ends the amounts outage once its time is over and at least
// one won deal went without its amount (else it lasts until one has, and
// half its length more): the managers enter the missing amounts, each in a
// change of its deal on the deal's lane.
func (w *world) amountsEntered(now time.Time) {
	e := &w.story
	if e.amountsOver || e.amountsFrom.IsZero() || len(e.missing) == 0 || now.Before(e.amountsTo) {
		return
	}
	if first := e.missing[0].closed.Add(e.amountsFor / 2); now.Before(first) {
		return
	}
	e.amountsOver = true
	for _, l := range e.missing {
		w.at(now, l.lane, func(at time.Time) []*hookReq { return w.crmEnterAmount(l, at) })
	}
}

// storyNews is what changed in the episodes by now, for the demo's log.
type storyNews struct {
	episode string // "channel silent", "no deal amounts"
	begins  bool
	channel string
	account string
	deals   int // amounts entered
}

func (w *world) storyNews(now time.Time) []storyNews {
	e := &w.story
	var out []storyNews
	if !e.silenceFrom.IsZero() {
		switch {
		case e.phase[0] == 0 && !now.Before(e.silenceFrom):
			e.phase[0] = 1
			out = append(out, storyNews{episode: "channel silent", begins: true, channel: e.channel})
		case e.phase[0] == 1 && !now.Before(e.silenceTo):
			e.phase[0] = 2
			out = append(out, storyNews{episode: "channel silent", channel: e.channel})
		}
	}
	if !e.amountsFrom.IsZero() {
		switch {
		case e.phase[1] == 0 && !now.Before(e.amountsFrom):
			e.phase[1] = 1
			out = append(out, storyNews{episode: "no deal amounts", begins: true, account: e.noAmounts})
		case e.phase[1] == 1 && e.amountsOver:
			e.phase[1] = 2
			out = append(out, storyNews{episode: "no deal amounts", account: e.noAmounts, deals: len(e.missing)})
		}
	}
	return out
}

// knownChannel reports whether the simulator sends visitors through name.
func knownChannel(name string) bool {
	for _, c := range channels {
		if c.name == name {
			return true
		}
	}
	return false
}

func channelNames() []string {
	out := make([]string, len(channels))
	for i, c := range channels {
		out[i] = c.name
	}
	return out
}
