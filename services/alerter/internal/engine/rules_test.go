package engine_test

import (
	"fmt"
	"testing"
	"time"
)

func TestMissedCalls(t *testing.T) {
	h := newHarness(t, "rules:\n  - {name: missed-calls, cooldown: 30m}\n", "missed-calls")
	at := monday.Add(10 * time.Hour)
	// 10 calls, 3 missed: 30% is not above 30%.
	for i := range 10 {
		h.call("msk", at.Add(time.Duration(i)*time.Minute), i >= 3)
	}
	h.now = at.Add(10 * time.Minute)
	expect(t, "at the limit", h.changed())
	h.call("msk", at.Add(11*time.Minute), false)
	h.now = at.Add(11 * time.Minute)
	expect(t, "4 of 11", h.changed(), "firing msk/missed-calls/")
	a := active(h, "msk", "missed-calls", "")
	if a.Value < 36 || a.Value > 37 || a.Threshold != 30 || a.Labels["account_name"] != "Moscow" {
		t.Fatalf("figures: %+v", a)
	}
	h.call("msk", at.Add(12*time.Minute), false)
	h.now = at.Add(12 * time.Minute)
	expect(t, "still breaching", h.changed())
	// An hour later the window has slid past them.
	expect(t, "window passed", h.to(at.Add(73*time.Minute)), "resolved msk/missed-calls/")
	// Under the 30 min cooldown a new breach stays quiet, then fires.
	for i := range 5 {
		h.call("msk", at.Add(80*time.Minute+time.Duration(i)*time.Second), false)
	}
	h.now = at.Add(81 * time.Minute)
	expect(t, "under cooldown", h.changed())
	expect(t, "after cooldown", h.to(at.Add(104*time.Minute)), "firing msk/missed-calls/")
}

func TestMissedCallsCountOnlyBusinessHours(t *testing.T) {
	h := newHarness(t, "", "missed-calls")
	// Saturday: the branch is closed, nobody answers, no alert.
	sat := monday.AddDate(0, 0, 5).Add(12 * time.Hour)
	h.now = sat
	for i := range 8 {
		h.call("msk", sat.Add(time.Duration(i)*time.Minute), false)
	}
	expect(t, "closed", h.to(sat.Add(30*time.Minute)))
	// Monday 09:05: the calls of 08:00-09:00 were before opening; only the
	// two since count, too few to judge.
	mon := monday.AddDate(0, 0, 7).Add(8 * time.Hour)
	h.now = mon
	for i := range 6 {
		h.call("msk", mon.Add(time.Duration(i)*5*time.Minute), false)
	}
	h.call("msk", mon.Add(62*time.Minute), false)
	h.call("msk", mon.Add(63*time.Minute), true)
	expect(t, "calls before opening do not count", h.to(mon.Add(65*time.Minute)))
}

func TestSilenceInBusinessTime(t *testing.T) {
	h := newHarness(t, "", "integration-silence")
	// The CRM and the site send all week until Friday 17:00 Moscow time.
	fri := monday.AddDate(0, 0, 4)
	h.now = monday.Add(9 * time.Hour)
	for at := h.now; !at.After(fri.Add(17 * time.Hour)); at = at.Add(10 * time.Minute) {
		h.input("msk", "crm:amocrm", at)
		h.input("msk", "pixel", at)
	}
	h.input("msk", "pixel", fri.Add(23*time.Hour)) // the site is alive at night
	// Friday 17:00-20:00 is 3h of business time; the weekend is closed;
	// the CRM's fourth hour of silence ends Monday 10:00, the site's
	// (last seen Friday 23:00) at 13:00.
	nextMon := monday.AddDate(0, 0, 7)
	h.now = fri.Add(17 * time.Hour)
	h.run(nextMon.Add(9*time.Hour+50*time.Minute), 10*time.Minute)
	expect(t, "three business hours and a weekend", h.versions)
	h.run(nextMon.Add(10*time.Hour), 10*time.Minute)
	expect(t, "the fourth business hour", h.versions, "firing msk/integration-silence/crm")
	a := active(h, "msk", "integration-silence", "crm")
	if a.Severity != "critical" || a.Labels["source"] != "crm" || a.Title != "the CRM sends nothing" {
		t.Fatalf("the incident: %+v", a)
	}
	h.versions = nil
	h.input("msk", "crm:amocrm", nextMon.Add(10*time.Hour+5*time.Minute))
	h.now = nextMon.Add(10*time.Hour + 5*time.Minute)
	expect(t, "the CRM is back", h.changed(), "resolved msk/integration-silence/crm")
	// call tracking was never used by msk: nothing to miss.
	if active(h, "msk", "integration-silence", "calls") != nil {
		t.Fatal("an integration the branch does not use fired")
	}
}

func TestSilenceInTheAccountsTimeZone(t *testing.T) {
	h := newHarness(t, "rules:\n  - {name: integration-silence, after: 2h, sources: [calls]}\n", "integration-silence")
	// nsk's last call comes Monday 19:00 Novosibirsk (15:00 Moscow); it
	// closes at 20:00 Novosibirsk and opens at 09:00: 2h of business time
	// have passed at Tuesday 10:00 Novosibirsk = 06:00 Moscow, before the
	// Moscow office opens.
	last := time.Date(2026, 3, 2, 19, 0, 0, 0, nsk)
	h.now = last
	h.input("nsk", "hook:mango", last)
	h.run(time.Date(2026, 3, 3, 9, 50, 0, 0, nsk), 10*time.Minute)
	expect(t, "overnight", h.versions)
	h.run(time.Date(2026, 3, 3, 10, 0, 0, 0, nsk), 10*time.Minute)
	expect(t, "opening in Novosibirsk", h.versions, "firing nsk/integration-silence/calls")
}

func TestDeadLetterShare(t *testing.T) {
	h := newHarness(t, "", "dead-letters")
	at := monday.Add(10 * time.Hour)
	h.now = at
	for i := range 100 {
		h.input("msk", "crm:bitrix24", at.Add(time.Duration(i)*10*time.Second))
	}
	for i := range 5 {
		h.deadLetter("crm:bitrix24", at.Add(time.Duration(i)*time.Minute))
	}
	h.deadLetter("pixel", at)
	h.now = at.Add(20 * time.Minute)
	expect(t, "5 of 105, and one of one for the site (under min_count)", h.changed())
	for i := range 5 {
		h.deadLetter("crm:amocrm", at.Add(time.Duration(10+i)*time.Minute))
	}
	expect(t, "10 of 110", h.changed(), "firing /dead-letters/crm")
	a := active(h, "", "dead-letters", "crm")
	if a.Account != "" || a.Value < 9 || a.Value > 9.1 {
		t.Fatalf("the incident is the network's: %+v", a)
	}
	expect(t, "an hour later", h.to(at.Add(80*time.Minute)), "resolved /dead-letters/crm")
}

func TestWonWithoutAmount(t *testing.T) {
	h := newHarness(t, "", "won-without-amount")
	at := monday.Add(15 * time.Hour)
	h.now = at
	h.deal("msk", "d1", "s1", "open", 0, at.Add(-time.Hour))
	h.deal("msk", "d2", "won", "won", 1500000, at)
	expect(t, "won with an amount", h.changed())
	h.deal("msk", "d1", "won", "won", 0, at.Add(time.Minute))
	h.now = at.Add(time.Minute)
	expect(t, "won without one", h.changed(), "firing msk/won-without-amount/")
	if a := active(h, "msk", "won-without-amount", ""); a.Labels["deals"] != "crm-d1" {
		t.Fatalf("the incident names the deal: %+v", a)
	}
	// Stays one incident while more come; resolves when amounts are entered.
	h.deal("msk", "d3", "won", "won", 0, at.Add(2*time.Minute))
	h.now = at.Add(2 * time.Minute)
	expect(t, "another", h.changed())
	h.deal("msk", "d1", "won", "won", 700000, at.Add(3*time.Minute))
	h.deal("msk", "d3", "won", "won", 900000, at.Add(3*time.Minute))
	h.now = at.Add(3 * time.Minute)
	expect(t, "amounts entered", h.changed(), "resolved msk/won-without-amount/")
	// A replayed old version changes nothing.
	h.e.Deal(dealVersion("d1", 1, "won", 0, at))
	expect(t, "stale version", h.changed())
}

func TestStuckDeals(t *testing.T) {
	h := newHarness(t, "rules:\n  - {name: stuck-deals, stages: {contract: 7d}}\n", "stuck-deals")
	at := monday.Add(10 * time.Hour)
	h.now = at
	for i := range 3 {
		h.deal("msk", fmt.Sprintf("s%d", i), "new", "open", 0, at)
	}
	for i := range 3 {
		h.deal("msk", fmt.Sprintf("c%d", i), "contract", "open", 0, at)
	}
	h.deal("msk", "old", "new", "open", 0, at.AddDate(0, 0, -40)) // abandoned: past ignore_after
	expect(t, "fresh", h.to(at.Add(72*time.Hour)))
	expect(t, "three new deals over 3d", h.to(at.Add(73*time.Hour)), "firing msk/stuck-deals/")
	a := active(h, "msk", "stuck-deals", "")
	if a.Value != 3 || a.Summary == "" {
		t.Fatalf("the incident: %+v", a)
	}
	// One moves on: 2 stuck, under min_count.
	h.deal("msk", "s0", "meeting", "open", 0, at.Add(74*time.Hour))
	h.now = at.Add(74 * time.Hour)
	expect(t, "a deal moved", h.changed(), "resolved msk/stuck-deals/")
}

func TestCPLAndCostAgainstTheirBaselines(t *testing.T) {
	h := newHarness(t, "", "cpl-spike", "cost-spike")
	// Eight days of 10 000 RUB a day on yandex_direct with 20 leads: CPL 500.
	start := monday.AddDate(0, 0, -8)
	h.now = start
	for d := range 8 {
		day := start.AddDate(0, 0, d)
		for i := range 20 {
			h.lead("msk", "yandex_direct", day.Add(10*time.Hour+time.Duration(i)*10*time.Minute), 1)
		}
		h.spend("msk", day.Format(time.DateOnly), "yandex_direct", 10000, day.Add(22*time.Hour))
		h.to(day.Add(23 * time.Hour))
	}
	h.to(monday.Add(9 * time.Hour))
	expect(t, "history", h.versions)
	// Monday noon: 15 000 RUB spent so far, 2 leads: CPL 7 500, 15× the usual.
	h.lead("msk", "yandex_direct", monday.Add(10*time.Hour), 1)
	h.lead("msk", "yandex_direct", monday.Add(11*time.Hour), 1)
	h.spend("msk", monday.Format(time.DateOnly), "yandex_direct", 15000, monday.Add(12*time.Hour))
	h.now = monday.Add(12 * time.Hour)
	expect(t, "a costly morning", h.changed(), "firing /cpl-spike/yandex_direct")
	cpl := active(h, "", "cpl-spike", "yandex_direct")
	if cpl.Value != 7500 || cpl.Threshold != 1500 {
		t.Fatalf("CPL %v against %v", cpl.Value, cpl.Threshold)
	}
	// The afternoon's upload restates the day: 25 000 RUB (2.5× a day) and 40 leads.
	for i := range 38 {
		h.lead("msk", "yandex_direct", monday.Add(13*time.Hour+time.Duration(i)*time.Minute), 1)
	}
	h.spend("msk", monday.Format(time.DateOnly), "yandex_direct", 25000, monday.Add(14*time.Hour))
	h.now = monday.Add(14 * time.Hour)
	expect(t, "restated", h.changed(), "resolved /cpl-spike/yandex_direct", "firing /cost-spike/yandex_direct")
	// A new day in Moscow (21:00 UTC) starts from nothing.
	expect(t, "midnight in Moscow", h.to(monday.Add(24*time.Hour)), "resolved /cost-spike/yandex_direct")
}

// TestCPLOfSpendPaidAhead: a billboard's rent is the day's spend uploaded
// at midnight. At 1 a.m. no lead could have come yet: no spike. The day
// whose leads stay far too few by the evening is one.
func TestCPLOfSpendPaidAhead(t *testing.T) {
	h := newHarness(t, "", "cpl-spike")
	// Eight days of 30 000 RUB rent and 20 leads between 10:00 and 13:10: CPL 1 500.
	start := monday.AddDate(0, 0, -8)
	h.now = start
	for d := range 8 {
		day := start.AddDate(0, 0, d)
		h.spend("msk", day.Format(time.DateOnly), "offline", 30000, day.Add(5*time.Minute))
		for i := range 20 {
			h.lead("msk", "offline", day.Add(10*time.Hour+time.Duration(i)*10*time.Minute), 1)
		}
		h.to(day.Add(23 * time.Hour))
	}
	h.to(monday)
	expect(t, "history", h.versions)
	h.spend("msk", monday.Format(time.DateOnly), "offline", 30000, monday.Add(5*time.Minute))
	expect(t, "the rent at 1 a.m., no lead yet", h.to(monday.Add(time.Hour)))
	// By 11:00 six leads were due and five came: CPL 6 000, paced 1 800.
	for i := range 5 {
		h.lead("msk", "offline", monday.Add(10*time.Hour+time.Duration(i)*10*time.Minute), 1)
	}
	expect(t, "a usual morning", h.to(monday.Add(11*time.Hour)))
	// 17:00: every lead of a usual day was due, five came: CPL 6 000, 4× the usual.
	expect(t, "a poor day", h.to(monday.Add(17*time.Hour)), "firing /cpl-spike/offline")
	if a := active(h, "", "cpl-spike", "offline"); a.Value != 6000 || a.Threshold != 4500 {
		t.Fatalf("CPL %v against %v, want 6000 against 4500", a.Value, a.Threshold)
	}
}

func TestFixedCPLLimitWithoutHistory(t *testing.T) {
	h := newHarness(t, "rules:\n  - {name: cpl-direct, kind: cpl, channels: [yandex_direct], max: 2000, factor: 0, scope: account_channel}\n", "cpl-direct")
	h.now = monday.Add(12 * time.Hour)
	h.lead("nsk", "yandex_direct", h.now, 1)
	h.spend("nsk", monday.Format(time.DateOnly), "yandex_direct", 1500, h.now)
	h.spend("nsk", monday.Format(time.DateOnly), "google_ads", 9000, h.now)
	expect(t, "under the limit", h.changed())
	h.spend("nsk", monday.Format(time.DateOnly), "yandex_direct", 2500, h.now)
	expect(t, "over it", h.changed(), "firing nsk/cpl-direct/yandex_direct")
}

// TestBusinessHoursHoldEveryRule: with business_hours, no rule gives a
// verdict while the branch is closed (silence counts business time instead).
func TestBusinessHoursHoldEveryRule(t *testing.T) {
	for _, rule := range []string{"no-leads-channel", "no-leads-account", "missed-calls", "won-without-amount", "stuck-deals", "unlinked-leads", "cost-spike", "cpl-spike", "dead-letters"} {
		t.Run(rule, func(t *testing.T) {
			h := newHarness(t, fmt.Sprintf("rules:\n  - {name: %s, business_hours: true}\n", rule), rule)
			sun := monday.AddDate(0, 0, 6).Add(12 * time.Hour)
			h.now = sun.Add(-time.Hour)
			h.lead("msk", "direct", h.now, 0)
			h.call("msk", h.now, false)
			h.deal("msk", "d", "new", "won", 0, h.now)
			h.spend("msk", sun.Format(time.DateOnly), "direct", 100, h.now)
			h.deadLetter("pixel", h.now)
			for _, c := range h.e.Evaluate(sun, false) {
				if c.Rule.Name == rule {
					t.Fatalf("a verdict on Sunday: %+v", c)
				}
			}
		})
	}
}

// TestSpendBaselineSumsUploadsArrivingLate: a month of history uploaded
// branch by branch, one upload per branch and day, arrives in minutes.
// Every past day is long finished when its first upload commits; the
// uploads of the other branches (and a restatement) for that day still
// count in its usual spend, so a normal today is no spike and a real one is.
func TestSpendBaselineSumsUploadsArrivingLate(t *testing.T) {
	h := newHarness(t, "", "cpl-spike", "cost-spike")
	branches := []string{"msk", "nsk", "ekb", "*"} // "*": bought centrally
	h.now = monday.Add(9 * time.Hour)
	h.to(h.now)
	at := h.now
	for d := 8; d >= 1; d-- {
		day := monday.AddDate(0, 0, -d)
		for _, b := range branches[:3] {
			for i := range 20 {
				h.lead(b, "yandex_direct", day.Add(10*time.Hour+time.Duration(i)*10*time.Minute), 1)
			}
		}
		for _, b := range branches {
			if b == "ekb" {
				// a wrong first figure, restated by the next upload of the day
				h.spend(b, day.Format(time.DateOnly), "yandex_direct", 1_000_000, at)
				at = at.Add(time.Second)
				h.to(at)
			}
			h.spend(b, day.Format(time.DateOnly), "yandex_direct", 10000, at)
			at = at.Add(time.Second)
			h.to(at) // a tick between two uploads: the day is folded in between
		}
	}
	expect(t, "history", h.versions)
	// Today: 10 000 RUB from each of the four, 60 leads: the usual day.
	h.to(monday.Add(11 * time.Hour))
	for _, b := range branches[:3] {
		for i := range 20 {
			h.lead(b, "yandex_direct", monday.Add(10*time.Hour+time.Duration(i)*time.Minute), 1)
		}
	}
	for _, b := range branches {
		h.spend(b, monday.Format(time.DateOnly), "yandex_direct", 10000, h.now)
	}
	expect(t, "a usual day", h.changed())
	expect(t, "a usual day, next tick", h.to(monday.Add(12*time.Hour)))
	// msk restates today at 60 000 RUB: 90 000 network-wide, over twice the usual 40 000.
	h.spend("msk", monday.Format(time.DateOnly), "yandex_direct", 60000, h.now)
	expect(t, "a real spike", h.changed(), "firing /cost-spike/yandex_direct")
	if a := active(h, "", "cost-spike", "yandex_direct"); a.Value != 90000 || a.Threshold != 80000 {
		t.Fatalf("cost %v against %v, want 90000 against 80000", a.Value, a.Threshold)
	}
}
