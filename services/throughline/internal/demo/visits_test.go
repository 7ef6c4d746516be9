package demo

import (
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

// classify reads a landing hit's channel from its markers only, the way the
// pipeline has to.
func classify(h hit) string {
	u, _ := url.Parse(h.url)
	q := u.Query()
	switch {
	case q.Get("yclid") != "":
		return "yandex_direct"
	case q.Get("gclid") != "":
		return "google_ads"
	case q.Get("vkclid") != "":
		return "vk_ads"
	case q.Get("utm_source") == "telegram":
		return "telegram"
	case q.Get("utm_medium") == "email":
		return "email"
	}
	for _, s := range []string{"yandex.ru/search", "www.google.com", "go.mail.ru"} {
		if strings.Contains(h.referrer, s) {
			return "organic"
		}
	}
	if h.referrer != "" {
		return "social"
	}
	return "direct"
}

func TestChannelShares(t *testing.T) {
	s, err := newSim(7, Tenants(1, 20), "t")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	counts := map[string]int{}
	visits, hits, goals, forms := 0, 0, 0, 0
	paths := map[string]bool{}
	perBranch := make([]int, len(s.branches))
	for i := 0; visits < 40000; i++ {
		h := s.next(t0.Add(time.Duration(i) * time.Second))
		hits++
		u, _ := url.Parse(h.url)
		paths[u.Path] = true
		switch {
		case h.landing:
			visits++
			counts[h.channel]++
			perBranch[h.account]++
			if got := classify(h); got != h.channel {
				t.Fatalf("landing %s (ref %q) reads as %s, simulated %s", h.url, h.referrer, got, h.channel)
			}
		case h.typ == "goal":
			goals++
			if h.server {
				forms++
				if h.name != "form_submit" || h.props["phone"] == "" {
					t.Fatalf("form %+v", h)
				}
			}
		}
	}
	for _, c := range channels {
		got := float64(counts[c.name]) / float64(visits)
		if math.Abs(got-c.share) > 0.015 {
			t.Errorf("%s: share %.3f, want %.2f±0.015", c.name, got, c.share)
		}
	}
	if perBranch[0] <= perBranch[len(perBranch)-1] {
		t.Errorf("Moscow has no more traffic than the smallest branch: %v", perBranch)
	}
	pagesPerVisit := float64(hits-goals) / float64(visits)
	if pagesPerVisit < 1.5 || pagesPerVisit > 3.5 || len(paths) < len(pages) {
		t.Errorf("%.2f pages per visit over %d paths", pagesPerVisit, len(paths))
	}
	if share := float64(forms) / float64(visits); share < 0.02 || share > 0.06 {
		t.Errorf("forms on %.3f of visits", share)
	}
}

func TestReturningVisitors(t *testing.T) {
	s, err := newSim(3, Tenants(1, 5), "t")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	type seen struct {
		days     map[int]bool
		channels map[string]bool
	}
	visitors := map[string]*seen{}
	for i := 0; i < 14*24*60; i++ { // two weeks, a hit a minute
		h := s.next(t0.Add(time.Duration(i) * time.Minute))
		if !h.landing {
			continue
		}
		v := visitors[h.clientID]
		if v == nil {
			v = &seen{days: map[int]bool{}, channels: map[string]bool{}}
			visitors[h.clientID] = v
		}
		v.days[i/(24*60)] = true
		v.channels[h.channel] = true
	}
	otherDay, otherChannel := 0, 0
	for _, v := range visitors {
		if len(v.days) > 1 {
			otherDay++
		}
		if len(v.channels) > 1 {
			otherChannel++
		}
	}
	if float64(otherDay) < 0.1*float64(len(visitors)) || otherChannel == 0 {
		t.Errorf("%d visitors: %d came back on another day, %d through another channel", len(visitors), otherDay, otherChannel)
	}
}

func TestSimDeterministic(t *testing.T) {
	a, _ := newSim(9, Tenants(1, 20), "x")
	b, _ := newSim(9, Tenants(1, 20), "x")
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Second)
		if ha, hb := a.next(now), b.next(now); ha.url != hb.url || ha.clientID != hb.clientID || ha.id != hb.id {
			t.Fatalf("hit %d differs: %+v / %+v", i, ha, hb)
		}
	}
}
