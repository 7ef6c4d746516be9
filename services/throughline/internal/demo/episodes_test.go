package demo

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// timedReq is a request and the live instant it was made.
type timedReq struct {
	at time.Time
	*hookReq
}

// simulateLive runs the network live from t0 for length at 50 hits a
// second with the story's episodes, and returns the hits and the requests.
func simulateLive(t *testing.T, branches int, story episodes, t0 time.Time, length time.Duration) ([]hit, []timedReq) {
	t.Helper()
	s, err := newSim(5, Tenants(1, branches), "live")
	if err != nil {
		t.Fatal(err)
	}
	s.w.store = newCRMStore()
	s.w.story = story
	s.w.story.start(t0)
	var reqs []timedReq
	for _, h := range s.w.goLive(t0, 10*time.Minute) {
		reqs = append(reqs, timedReq{t0, h})
	}
	var hits []hit
	for now := t0; now.Before(t0.Add(length)); now = now.Add(20 * time.Millisecond) {
		hits = append(hits, s.next(now))
		for _, a := range s.w.due(now) {
			for _, h := range a.make(a.due) {
				if h.before != nil {
					h.before()
				}
				reqs = append(reqs, timedReq{now, h})
			}
		}
	}
	return hits, reqs
}

func between(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// Live, with the default story, Telegram goes silent for a while — no visit, form or call of it,
// Telegram Ads or a link in a Telegram channel — and comes back; and the
// sloppy branch's amoCRM sends its won deals without amounts until the
// managers enter them, each in an update of the deal.
func TestStoryEpisodes(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 11, 0, 0, 0, msk)
	d := Defaults()
	hits, reqs := simulateLive(t, 20, d.episodes(), t0, 14*time.Minute)
	silenceFrom, silenceTo := t0.Add(d.SilenceAt), t0.Add(d.SilenceAt+d.SilenceFor)
	amountsFrom, amountsTo := t0.Add(d.NoAmountsAt), t0.Add(d.NoAmountsAt+d.NoAmountsFor)

	telegram := func(u, ref string) bool {
		p, err := url.Parse(u)
		return err == nil && p.Query().Get("utm_source") == "telegram" || strings.HasPrefix(ref, "https://t.me/")
	}
	// lastNonDirect is what the pipeline credits a visitor's lead to: the
	// visitor's latest landing that was not direct.
	lastNonDirect := map[string]bool{} // client id → it was telegram
	var before, during, after, goals int
	for _, h := range hits {
		if h.landing {
			p, _ := url.Parse(h.url)
			if len(p.Query()) > 0 || h.referrer != "" {
				lastNonDirect[h.clientID] = telegram(h.url, h.referrer)
			}
		}
		if h.landing && telegram(h.url, h.referrer) {
			switch {
			case h.ts.Before(silenceFrom):
				before++
			case h.ts.Before(silenceTo):
				during++
			default:
				after++
			}
		}
		if h.typ == "goal" && lastNonDirect[h.clientID] && between(h.ts, silenceFrom, silenceTo) {
			goals++
		}
	}
	t.Logf("telegram landings: %d before the silence, %d during, %d after", before, during, after)
	if before < 50 || during != 0 || after < 50 || goals != 0 {
		t.Errorf("telegram landings %d/%d/%d, goals during the silence %d", before, during, after, goals)
	}
	calls := 0
	for _, r := range reqs {
		if r.kind != kindCalls || !strings.Contains(r.target, "calltouch") {
			continue
		}
		f, _ := url.ParseQuery(string(r.body))
		sec, _ := strconv.ParseInt(f.Get("timestamp"), 10, 64)
		start := time.Unix(sec, 0)
		if telegram(f.Get("url"), f.Get("ref")) && between(start, silenceFrom, silenceTo) {
			calls++
		}
	}
	if calls != 0 {
		t.Errorf("%d calls of telegram visitors started during the silence", calls)
	}

	// Amounts: won deals of the sloppy branch have none from the outage's
	// start until the managers enter them, in updates of the deals, once
	// its time is over; every other won deal has its amount.
	var entered int
	var enteredAt time.Time
	for _, r := range reqs {
		f, _ := url.ParseQuery(string(r.body))
		if strings.Contains(r.target, "/crm/amocrm") && f.Get("leads[update][0][id]") != "" {
			acc := strings.TrimPrefix(f.Get("account[subdomain]"), "demo-")
			if acc != sloppyBranch || f.Get("leads[update][0][status_id]") != amoWon || f.Get("leads[update][0][price]") == "0" {
				t.Errorf("unexpected update: %v", f)
			}
			if enteredAt.IsZero() {
				enteredAt = r.at
			}
			if !r.at.Equal(enteredAt) {
				t.Errorf("amounts entered at %v and %v", enteredAt.Sub(t0), r.at.Sub(t0))
			}
			entered++
		}
	}
	if enteredAt.Before(amountsTo) {
		t.Fatalf("amounts entered at %v, before the outage was over", enteredAt.Sub(t0))
	}
	var missing, wonWith int
	for _, r := range reqs {
		f, _ := url.ParseQuery(string(r.body))
		if !strings.Contains(r.target, "/crm/amocrm") || f.Get("leads[status][0][status_id]") != amoWon {
			continue
		}
		acc := strings.TrimPrefix(f.Get("account[subdomain]"), "demo-")
		price := f.Get("leads[status][0][price]")
		switch {
		case acc == sloppyBranch && between(r.at, amountsFrom, enteredAt):
			if price != "0" {
				t.Errorf("%s won a deal with amount %s during the outage", acc, price)
			}
			missing++
		case price == "0":
			t.Errorf("%s won a deal without amount at %v", acc, r.at.Sub(t0))
		case acc == sloppyBranch:
			wonWith++
		}
	}
	t.Logf("%s: %d won deals without amount during the outage, %d amounts entered at %v, %d won with amount", sloppyBranch,
		missing, entered, enteredAt.Sub(t0), wonWith)
	if missing == 0 || entered != missing || wonWith == 0 {
		t.Errorf("missing %d, entered %d, won with amount %d", missing, entered, wonWith)
	}
}

// Without episodes (as history runs, and as the tests' Config{} has it)
// nothing goes silent and nothing is entered later.
func TestNoEpisodes(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 11, 0, 0, 0, msk)
	_, reqs := simulateLive(t, 20, episodes{}, t0, 6*time.Minute)
	for _, r := range reqs {
		if strings.Contains(string(r.body), "leads%5Bupdate%5D") {
			t.Fatalf("an amount was entered without an outage: %s", r.body)
		}
	}
}

func TestStoryConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{SilentChannel: "myspace"}, "demo-silent-channel"},
		{Config{SilenceAt: -time.Second}, "demo-silence-at"},
		{Config{SilenceFor: -time.Second}, "demo-silence-for"},
		{Config{NoAmountsAt: -time.Second}, "demo-no-amounts-at"},
		{Config{NoAmountsFor: -time.Second}, "demo-no-amounts-for"},
		{Config{AlertsAddr: "no-port"}, "demo-alerts-addr"},
	} {
		c.cfg.CollectorURL = "http://127.0.0.1:8080"
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	d := Defaults()
	d.CollectorURL = "http://127.0.0.1:8080"
	if err := d.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
