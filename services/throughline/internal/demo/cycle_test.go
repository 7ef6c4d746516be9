package demo

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// No deal of the demo stays in one stage longer than its sales cycle
// (stuckDealAge), so the demo's stuck-deals rule — set to that age —
// fires only for a deal that really is stuck: a month of history closes
// every deal it opens in time (a Bitrix24 deal's add and its close are
// two ONCRMDEAL events of the deal's id).
func TestNoDealOutlivesTheCycle(t *testing.T) {
	reqs, _ := simulate(t, 20, 30, 86*time.Second)
	end := time.Date(2026, 3, 31, 0, 0, 0, 0, msk)
	added, closed := map[string]time.Time{}, map[string]time.Time{}
	for _, h := range reqs {
		f, _ := url.ParseQuery(string(h.body))
		ts, _ := strconv.ParseInt(f.Get("ts"), 10, 64)
		switch id := f.Get("data[FIELDS][ID]"); f.Get("event") {
		case "ONCRMDEALADD":
			added[id] = time.Unix(ts, 0)
		case "ONCRMDEALUPDATE":
			closed[id] = time.Unix(ts, 0)
		}
	}
	checked := 0
	for id, at := range added {
		if end.Sub(at) <= stuckDealAge {
			continue // may still be open
		}
		checked++
		if c, ok := closed[id]; !ok || c.Sub(at) > stuckDealAge {
			t.Errorf("deal %s added %s: closed %v", id, at.In(msk), c.In(msk))
		}
	}
	if checked < 100 {
		t.Errorf("only %d deals checked", checked)
	}

	var rules struct {
		Rules []struct {
			Name   string `yaml:"name"`
			MaxAge string `yaml:"max_age"`
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal(alertRules, &rules); err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(int(stuckDealAge/(24*time.Hour))) + "d"
	found := false
	for _, r := range rules.Rules {
		if r.Name == "stuck-deals" {
			found = true
			if !strings.EqualFold(r.MaxAge, want) {
				t.Errorf("the demo's stuck-deals max_age is %s, the demo's cycle %s", r.MaxAge, want)
			}
		}
	}
	if !found {
		t.Error("the demo's rules leave stuck-deals at its default")
	}
}
