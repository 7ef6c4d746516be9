package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// costBook counts each day's paid clicks per branch, channel and campaign:
// the cost reports are written from it.
type costBook map[time.Time]map[clickKey]int64

type clickKey struct {
	bi                int
	channel, campaign string
}

// landed counts a landing from a paid channel as a click of its campaign.
// Live after a history, the clicks are the history's (see paced): live
// visitors come far more densely than the history's.
func (w *world) landed(bi int, channel, campaign string, now time.Time) {
	names := campaigns[channel]
	if story[channel].cpc == 0 || len(names) == 0 {
		return
	}
	if campaign == "" { // auto-tagging only (gclid without UTM): Performance Max
		campaign = names[len(names)-1]
	}
	w.tally.add(channel, func(c *channelTally) { c.Clicks++ })
	if w.live && w.usual.days > 0 {
		return
	}
	day := dayOf(now)
	m := w.book[day]
	if m == nil {
		m = map[clickKey]int64{}
		w.book[day] = m
	}
	m[clickKey{bi, channel, campaign}]++
}

// usualClicks are the clicks of the history's whole days, per branch,
// channel and campaign: what live spend goes on from.
type usualClicks struct {
	clicks map[clickKey]int64
	days   int
}

// learn adds a closed day of history.
func (u *usualClicks) learn(day map[clickKey]int64) {
	if u.clicks == nil {
		u.clicks = map[clickKey]int64{}
	}
	for k, n := range day {
		u.clicks[k] += n
	}
	u.days++
}

// paced are the clicks of day from the live part of [from, to): the
// history's usual day spread over the hours as its traffic is (diurnal).
// Live spend so continues the history's daily pattern: today's spend at
// noon is what the history spent by noon on a usual day, whatever the
// live rate (--demo-rate sends visitors far more densely than the
// history, so pricing its clicks would make today cost many usual days).
func (w *world) paced(day, from, to time.Time) map[clickKey]float64 {
	if w.usual.days == 0 || !to.After(from) {
		return nil
	}
	share := dayShare(maxTime(from, day), minTime(to, day.AddDate(0, 0, 1)))
	if share <= 0 {
		return nil
	}
	out := make(map[clickKey]float64, len(w.usual.clicks))
	for k, n := range w.usual.clicks {
		out[k] = float64(n) / float64(w.usual.days) * share
	}
	return out
}

// dayShare is the share of a day's traffic (diurnal, MSK) between from
// and to, both within one day.
func dayShare(from, to time.Time) float64 {
	share := 0.0
	for t := from; t.Before(to); {
		next := t.Truncate(time.Hour).Add(time.Hour)
		if next.After(to) {
			next = to
		}
		share += diurnal[t.In(msk).Hour()] * next.Sub(t).Hours() / 24
		t = next
	}
	return share
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// costRow is one day × campaign of spend.
type costRow struct {
	bi                       int
	account                  string // offline rows: the branch paying the rent
	channel, campaign        string
	campaignID               int64
	clicks, impressions, fee int64 // fee in kopecks
}

// costUploads are the day's spend reports as each ad platform's export
// comes: Yandex Direct TSV per branch (each branch runs its own Direct
// account, uploaded with the branch's key); Google Ads, VK Ads and the
// generic CSV (Telegram, e-mail, and every branch's billboard and flyer
// rent) uploaded centrally with the tenant key. Each declares its day
// (from/to), so a later upload of the same day restates it. final marks
// the day's last upload; its spend counts in the story.
//
// upTo is the upload's time: live, the day's spend so far is priced up to
// it (paced).
func (w *world) costUploads(day time.Time, final bool, upTo time.Time) []*hookReq {
	date := day.Format("2006-01-02")
	rows := w.costRows(day, date, upTo)
	if final {
		if !w.live && day.After(w.firstDay) {
			w.usual.learn(w.book[day]) // a whole day of history
		}
		delete(w.book, day)
		for _, r := range rows {
			w.tally.add(r.channel, func(c *channelTally) { c.Cost += r.fee })
		}
	}
	byChannel := map[string][]costRow{}
	for _, r := range rows {
		byChannel[r.channel] = append(byChannel[r.channel], r)
	}
	params := "&from=" + date + "&to=" + date
	var out []*hookReq
	perBranch := map[int][]costRow{}
	for _, r := range byChannel["yandex_direct"] {
		perBranch[r.bi] = append(perBranch[r.bi], r)
	}
	for bi := range w.branches {
		if rs := perBranch[bi]; len(rs) > 0 {
			out = append(out, costReq("yandex"+params, "text/tab-separated-values", w.branches[bi].server, yandexTSV(date, rs)))
		}
	}
	if w.tenantKey == "" {
		return out // no central uploads without a tenant key
	}
	if rs := byChannel["google_ads"]; len(rs) > 0 {
		out = append(out, costReq("google"+params, "application/json", w.tenantKey, googleJSON(date, rs)))
	}
	if rs := byChannel["vk_ads"]; len(rs) > 0 {
		out = append(out, costReq("vk"+params, "application/json", w.tenantKey, vkJSON(date, rs)))
	}
	if rs := append(byChannel["telegram"], byChannel["email"]...); len(rs) > 0 {
		out = append(out, costReq("generic"+params, "text/csv", w.tenantKey, genericCSV(date, rs, false)))
	}
	if rs := byChannel["offline"]; len(rs) > 0 {
		out = append(out, costReq("generic"+params, "text/csv", w.tenantKey, genericCSV(date, rs, true)))
	}
	return out
}

// costRows prices the day's clicks: clicks × the channel's CPC × a noise
// that is stable for the day and campaign, so restating a day only adds
// the clicks since. Branch-bought channels (Yandex Direct) keep a row per
// branch; the central ones are summed over branches. Offline spend is each
// branch's rent, whatever the clicks.
func (w *world) costRows(day time.Time, date string, upTo time.Time) []costRow {
	clicks := make(map[clickKey]int64, len(w.book[day]))
	for k, n := range w.book[day] {
		clicks[k] = n
	}
	if w.live {
		for k, f := range w.paced(day, w.liveFrom, upTo) {
			if n := int64(math.Round(f)); n > 0 {
				clicks[k] += n
			}
		}
	}
	keys := make([]clickKey, 0, len(clicks))
	for k := range clicks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.channel != b.channel {
			return a.channel < b.channel
		}
		if a.bi != b.bi {
			return a.bi < b.bi
		}
		return a.campaign < b.campaign
	})
	var rows []costRow
	index := map[clickKey]int{}
	for _, k := range keys {
		n := clicks[k]
		scope := k
		if k.channel != "yandex_direct" {
			scope.bi = -1 // bought centrally
		}
		i, ok := index[scope]
		if !ok {
			i = len(rows)
			index[scope] = i
			rows = append(rows, costRow{bi: scope.bi, channel: k.channel, campaign: k.campaign, campaignID: campaignID(scope)})
		}
		rows[i].clicks += n
	}
	for i := range rows {
		r := &rows[i]
		scope := strconv.Itoa(r.bi)
		noise := 0.85 + 0.3*hash01(date, scope, r.campaign)
		r.fee = int64(float64(r.clicks*story[r.channel].cpc) * noise)
		r.impressions = r.clicks * int64(12+30*hash01(date, scope, r.campaign, "impressions"))
	}
	for bi := range w.branches {
		if len(w.lines[bi].offline) == 0 {
			continue
		}
		rent := float64(offlineRent) * w.weights[bi] * (0.9 + 0.2*hash01(date, w.branches[bi].id, "rent"))
		id := w.branches[bi].id
		rows = append(rows,
			costRow{bi: bi, account: id, channel: "offline", campaign: "billboard-" + id, fee: int64(rent * 0.7)},
			costRow{bi: bi, account: id, channel: "offline", campaign: "flyers-" + id, fee: int64(rent * 0.3)})
	}
	return rows
}

// campaignID is the ad platform's id of a campaign: per branch for Direct.
func campaignID(k clickKey) int64 {
	i := int64(0)
	for j, name := range campaigns[k.channel] {
		if name == k.campaign {
			i = int64(j + 1)
		}
	}
	switch k.channel {
	case "yandex_direct":
		return 70_000_000 + int64(k.bi)*100 + i
	case "google_ads":
		return 21_160_000_000 + i
	case "vk_ads":
		return 555_000 + i
	}
	return 0
}

func costReq(query, ctype, key string, body []byte) *hookReq {
	return &hookReq{kind: kindCosts, method: "POST", target: "/v1/costs?format=" + query, ctype: ctype,
		header: map[string]string{"Authorization": "Bearer " + key}, body: body}
}

// yandexTSV is a Yandex Direct Reports API report (TSV, money in micros),
// with its title and total lines.
func yandexTSV(date string, rows []costRow) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Campaign performance (%s - %s)\n", date, date)
	b.WriteString("Date\tCampaignId\tCampaignName\tImpressions\tClicks\tCost\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s\t%d\t%s\t%d\t%d\t%d\n", date, r.campaignID, r.campaign, r.impressions, r.clicks, r.fee*10_000)
	}
	fmt.Fprintf(&b, "Total rows: %d\n", len(rows))
	return b.Bytes()
}

// googleJSON is a GoogleAdsService.SearchStream answer (REST): one batch.
func googleJSON(date string, rows []costRow) []byte {
	results := make([]map[string]any, len(rows))
	for i, r := range rows {
		id := strconv.FormatInt(r.campaignID, 10)
		results[i] = map[string]any{
			"campaign": map[string]string{"resourceName": "customers/4815162342/campaigns/" + id, "id": id, "name": r.campaign},
			"metrics": map[string]string{"clicks": strconv.FormatInt(r.clicks, 10),
				"costMicros": strconv.FormatInt(r.fee*10_000, 10), "impressions": strconv.FormatInt(r.impressions, 10)},
			"segments": map[string]string{"date": date},
			"customer": map[string]string{"currencyCode": "RUB"},
		}
	}
	b, _ := json.Marshal([]any{map[string]any{"results": results,
		"fieldMask": "campaign.id,campaign.name,metrics.clicks,metrics.costMicros,metrics.impressions,segments.date,customer.currencyCode",
		"requestId": "demo-" + date}})
	return b
}

// vkJSON is VK Ads' GET /api/v2/statistics/campaigns/day.json answer.
func vkJSON(date string, rows []costRow) []byte {
	items := make([]map[string]any, len(rows))
	for i, r := range rows {
		base := map[string]any{"shows": r.impressions, "clicks": r.clicks, "spent": money(r.fee)}
		items[i] = map[string]any{"id": r.campaignID, "name": r.campaign,
			"rows": []map[string]any{{"date": date, "base": base}}, "total": map[string]any{"base": base}}
	}
	b, _ := json.Marshal(map[string]any{"items": items, "count": len(items), "offset": 0})
	return b
}

// genericCSV is Throughline's generic cost CSV; withAccount names the
// branch of each row (central uploads of branch spend).
func genericCSV(date string, rows []costRow, withAccount bool) []byte {
	var b bytes.Buffer
	if withAccount {
		b.WriteString("date,account,channel,source,medium,campaign,cost\n")
	} else {
		b.WriteString("date,channel,source,medium,campaign,cost,clicks,impressions\n")
	}
	for _, r := range rows {
		src, med := "telegram", "cpc"
		switch {
		case r.channel == "email":
			src, med = "newsletter", "email"
		case withAccount:
			src, med = "billboard", "outdoor"
			if strings.HasPrefix(r.campaign, "flyers-") {
				src, med = "flyers", "print"
			}
		}
		if withAccount {
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s\n", date, r.account, r.channel, src, med, r.campaign, money(r.fee))
		} else {
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%d,%d\n", date, r.channel, src, med, r.campaign, money(r.fee), r.clicks, r.impressions)
		}
	}
	return b.Bytes()
}

// money writes kopecks as roubles with two decimals.
func money(kopecks int64) string {
	return fmt.Sprintf("%d.%02d", kopecks/100, kopecks%100)
}
