package demo

import (
	"fmt"
	"sort"
	"sync"

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

// Story branches, by account id.
const (
	// sloppyBranch's managers leave the amount of half their won deals empty.
	sloppyBranch = "yekaterinburg"
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
