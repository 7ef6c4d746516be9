package demo

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// Channels the simulator sends visitors through, with their share of visits.
// The shares are what a Russian-market service business typically sees; the
// pipeline must classify them from the markers alone (click ids, UTM,
// referrer), so the names here never travel on the wire.
var channels = []struct {
	name           string
	share          float64
	source, medium string // what a static number advertised in the channel is labelled with
}{
	{"yandex_direct", 0.25, "yandex", "cpc"},
	{"google_ads", 0.08, "google", "cpc"},
	{"vk_ads", 0.08, "vk", "cpc"},
	{"telegram", 0.05, "telegram", "cpc"},
	{"organic", 0.22, "search", "organic"},
	{"social", 0.07, "social", "social"},
	{"email", 0.05, "newsletter", "email"},
	{"direct", 0.20, "(direct)", "(none)"},
}

// campaigns are the campaigns of the channels that tag their links: what
// UTM campaigns the visits carry and what cost reports list.
var campaigns = map[string][]string{
	"yandex_direct": {"search-brand", "search-courses", "rsya-retargeting", "search-competitors"},
	"google_ads":    {"search-brand", "pmax-courses"},
	"vk_ads":        {"vk-lookalike", "vk-retargeting", "vk-parents"},
	"telegram":      {"tg-ads-english", "tg-ads-kids"},
	"email":         {"monthly-digest", "promo-weekend", "trial-reminder"},
}

// Branch site pages; the first is the home page.
var pages = []string{"/", "/courses", "/prices", "/teachers", "/reviews", "/contacts", "/trial-lesson", "/blog"}

var (
	searchTerms = []string{"курсы английского", "английский для детей", "школа английского языка рядом",
		"английский для взрослых", "подготовка к егэ по английскому", "разговорный английский"}
	userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 YaBrowser/24.12.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	}
)

// Visitor behaviour.
const (
	returnShare     = 0.3  // visits by a visitor seen before
	sameChannel     = 0.5  // a returning visitor comes back through the same channel
	phoneClickShare = 0.06 // visits ending in a click on the phone number (browser goal)
	formShare       = 0.04 // visits ending in a submitted form (server-side goal)
	poolCap         = 5000 // visitors remembered per branch
	maxPages        = 8
)

// hit is one thing a visitor does, ready to be sent.
type hit struct {
	account  int
	server   bool // sent by the branch's backend through /v1/events, else a pixel hit
	typ      string
	name     string
	ts       time.Time
	id       string
	clientID string
	url      string
	referrer string
	ua       string
	ip       string
	props    map[string]string
	channel  string // the simulator's own label, for tests and logs
	landing  bool
}

type visitor struct {
	clientID  string
	phone     string // E.164: what the visitor types into forms and calls from
	ua, ip    string
	channel   int
	nonDirect string // the pipeline's channel of the visitor's last visit not direct
	visits    int
	lastSeen  time.Time
}

type branch struct {
	id, site string
	key      string // site key: pixel, browser events, number leases
	server   string // server key: calls, CRM, costs
	pool     []*visitor
	acct     *tenants.Account    // its integrations
	jivo     *tenants.ChatWidget // its Jivo widget; nil: none
	crm      *crmBranch          // its CRM's state (crm.go); nil without a CRM
}

// visit is a visitor's session in progress: the hits still to come.
type visit struct {
	due     time.Time
	branch  int
	v       *visitor
	channel int
	pages   []string
	prevURL string
	goal    string
	landing string // the landing page's URL, with its UTM and click ids
	ref     string // the landing's referrer
	// lead is the channel the pipeline gives a lead of this visit (last
	// non-direct): the visit's own or, for a direct visit, the visitor's
	// last non-direct one.
	lead string
}

// sim generates the network's traffic. It is deterministic for a seed and
// not safe for concurrent use.
type sim struct {
	r        *rand.Rand
	w        *world // the calls, CRM changes and cost uploads the visits lead to
	runID    string
	seq      uint64
	branches []*branch
	weights  []float64 // cumulative traffic share per branch
	shares   []float64 // cumulative channel share
	pending  visitHeap
}

func newSim(seed int64, tc *tenants.Config, runID string) (*sim, error) {
	s := &sim{r: rand.New(rand.NewPCG(uint64(seed), 0x7468726f75676800)), runID: runID}
	total := 0.0
	tenantKey := ""
	for ti := range tc.Tenants {
		t := &tc.Tenants[ti]
		for ai := range t.Accounts {
			a := &t.Accounts[ai]
			if a.SiteKey() == "" {
				continue
			}
			if tenantKey == "" && len(t.TenantKeys) > 0 {
				tenantKey = t.TenantKeys[0]
			}
			i := len(s.branches)
			b := &branch{id: a.ID, key: a.SiteKey(), server: a.ServerKey(), site: "https://" + a.ID + ".demo-school.example", acct: a}
			for ci := range a.Chats {
				if a.Chats[ci].Provider == chatJivo {
					b.jivo = &a.Chats[ci]
				}
			}
			s.branches = append(s.branches, b)
			total += 1 / math.Pow(float64(i+1), 0.7) // bigger cities first, more traffic
			s.weights = append(s.weights, total)
		}
	}
	if len(s.branches) == 0 {
		return nil, errors.New("demo: no account with a write key in the tenants config")
	}
	for i := range s.weights {
		s.weights[i] /= total
	}
	sum := 0.0
	for _, c := range channels {
		sum += c.share
		s.shares = append(s.shares, sum)
	}
	s.w = newWorld(seed, s.branches, tenantKey, runID)
	return s, nil
}

// next returns the next hit at time now: a step of a visit already under way
// when one is due, else the landing of a new visit.
func (s *sim) next(now time.Time) hit {
	if len(s.pending) > 0 && !s.pending[0].due.After(now) {
		v := heap.Pop(&s.pending).(*visit)
		return s.step(v, now)
	}
	return s.land(now)
}

func (s *sim) land(now time.Time) hit {
	bi := pick(s.r.Float64(), s.weights)
	b := s.branches[bi]
	var v *visitor
	ch := pick(s.r.Float64(), s.shares)
	if len(b.pool) > 0 && s.r.Float64() < returnShare {
		v = b.pool[s.r.IntN(len(b.pool))]
		if s.r.Float64() < sameChannel {
			ch = v.channel
		}
		if s.w.story.silent(v.nonDirect, now) {
			v = nil // the silent channel's people do not come back meanwhile
		}
	}
	// A silent channel brings nobody: visitors come through the others.
	for s.w.story.silent(channels[ch].name, now) {
		ch = pick(s.r.Float64(), s.shares)
	}
	if v == nil {
		v = &visitor{
			clientID: fmt.Sprintf("%d.%d", 1_000_000_000+s.r.Int64N(9_000_000_000), now.Unix()),
			phone:    fmt.Sprintf("+7999%07d", s.r.IntN(10_000_000)),
			ua:       userAgents[s.r.IntN(len(userAgents))],
			ip:       fmt.Sprintf("203.0.113.%d", 1+s.r.IntN(254)),
		}
		if len(b.pool) < poolCap {
			b.pool = append(b.pool, v)
		} else {
			b.pool[s.r.IntN(poolCap)] = v
		}
	}
	v.channel, v.lastSeen = ch, now
	v.visits++
	n := 1
	for n < maxPages && s.r.Float64() < 0.55 {
		n++
	}
	vis := &visit{branch: bi, v: v, channel: ch}
	vis.pages = append(vis.pages, pages[landingPage(s.r, channels[ch].name)])
	for range n - 1 {
		vis.pages = append(vis.pages, pages[s.r.IntN(len(pages))])
	}
	switch f := s.r.Float64(); {
	case f < formShare:
		vis.goal = "form_submit"
	case f < formShare+phoneClickShare:
		vis.goal = "phone_click"
	case f < formShare+phoneClickShare+chatShare && b.jivo != nil:
		vis.goal = "chat"
	}
	query, ref := s.markers(ch, now)
	vis.lead = channels[ch].name
	if rc := referrerChannel(ref); rc != "" {
		vis.lead = rc
	}
	if vis.lead != "direct" {
		v.nonDirect = vis.lead
	} else if v.nonDirect != "" {
		vis.lead = v.nonDirect
	}
	page := vis.pages[0]
	vis.pages = vis.pages[1:]
	u := b.site + page
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	vis.landing, vis.ref = u, ref
	s.w.landed(bi, channels[ch].name, query.Get("utm_campaign"), now)
	h := s.hit(vis, now, "pageview", "", u, ref)
	h.landing = true
	s.schedule(vis, now)
	return h
}

// step emits a visit's next page view or its closing goal.
func (s *sim) step(vis *visit, now time.Time) hit {
	b := s.branches[vis.branch]
	if len(vis.pages) > 0 {
		u := b.site + vis.pages[0]
		vis.pages = vis.pages[1:]
		h := s.hit(vis, now, "pageview", "", u, vis.prevURL)
		s.schedule(vis, now)
		return h
	}
	goal := vis.goal
	vis.goal = ""
	if s.w.story.silentVisit(vis, now) {
		// The silent channel's visitors leave without a form or a call;
		// a new visit takes this hit's place.
		return s.land(now)
	}
	h := s.hit(vis, now, "goal", goal, vis.prevURL, "")
	switch goal {
	case "form_submit":
		h.server = true
		h.props = map[string]string{"form": "trial_lesson", "phone": vis.v.phone}
		s.w.formSubmitted(vis, now)
	case "phone_click":
		s.w.phoneClicked(vis, now)
	case "chat":
		// The widget is the tracker's goal; Jivo's webhook brings the chat.
		h.name = "chat_widget_open"
		s.w.chatStarted(vis, now)
	}
	return h
}

func (s *sim) hit(vis *visit, now time.Time, typ, name, u, ref string) hit {
	s.seq++
	if typ == "pageview" {
		vis.prevURL = u
	}
	return hit{
		account: vis.branch, typ: typ, name: name, ts: now,
		id:       "demo-" + s.runID + "-" + strconv.FormatUint(s.seq, 10),
		clientID: vis.v.clientID, url: u, referrer: ref, ua: vis.v.ua, ip: vis.v.ip,
		channel: channels[vis.channel].name,
	}
}

// schedule queues the visit's next hit after the visitor's reading time.
func (s *sim) schedule(vis *visit, now time.Time) {
	if len(vis.pages) == 0 && vis.goal == "" {
		return
	}
	think := time.Duration(10+s.r.ExpFloat64()*40) * time.Second
	vis.due = now.Add(min(think, 5*time.Minute))
	heap.Push(&s.pending, vis)
}

// markers are what a channel leaves on the landing: URL parameters (UTM,
// click ids) and the referrer.
func (s *sim) markers(ch int, now time.Time) (url.Values, string) {
	r := s.r
	q := url.Values{}
	oneOf := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	campaign := func() string { return oneOf(campaigns[channels[ch].name]...) }
	term := searchTerms[r.IntN(len(searchTerms))]
	switch channels[ch].name {
	case "yandex_direct":
		q.Set("utm_source", "yandex")
		q.Set("utm_medium", "cpc")
		q.Set("utm_campaign", campaign())
		q.Set("utm_content", strconv.Itoa(10_000_000+r.IntN(90_000_000)))
		q.Set("utm_term", term)
		q.Set("yclid", strconv.FormatUint(r.Uint64()>>1, 10))
	case "google_ads":
		if r.IntN(2) == 0 { // auto-tagging only, or auto-tagging plus UTM
			q.Set("utm_source", "google")
			q.Set("utm_medium", "cpc")
			q.Set("utm_campaign", campaign())
		}
		q.Set("gclid", "Cj0KCQ"+token(r, 40))
	case "vk_ads":
		q.Set("utm_source", "vk")
		q.Set("utm_medium", "cpc")
		q.Set("utm_campaign", campaign())
		q.Set("vkclid", token(r, 16))
	case "telegram":
		q.Set("utm_source", "telegram")
		q.Set("utm_medium", "cpc")
		q.Set("utm_campaign", campaign())
	case "email":
		q.Set("utm_source", "newsletter")
		q.Set("utm_medium", "email")
		q.Set("utm_campaign", campaign())
	case "organic":
		switch f := r.Float64(); {
		case f < 0.65:
			return q, "https://yandex.ru/search/?text=" + url.QueryEscape(term)
		case f < 0.95:
			return q, "https://www.google.com/"
		default:
			return q, "https://go.mail.ru/search?q=" + url.QueryEscape(term)
		}
	case "social":
		ref := oneOf(socialReferrers...)
		for s.w.story.silent(referrerChannel(ref), now) {
			ref = oneOf(socialReferrers...)
		}
		return q, ref
	}
	return q, ""
}

var socialReferrers = []string{"https://vk.com/", "https://ok.ru/", "https://t.me/", "https://dzen.ru/"}

// referrerChannel is the channel the pipeline gives a referrer where it is
// not the simulator's own label: links in Telegram channels are telegram,
// not social. "" for the others.
func referrerChannel(ref string) string {
	if strings.HasPrefix(ref, "https://t.me/") {
		return "telegram"
	}
	return ""
}

func landingPage(r *rand.Rand, channel string) int {
	if channel == "direct" || r.IntN(3) == 0 {
		return 0
	}
	return 1 + r.IntN(len(pages)-1)
}

const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

func token(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = tokenChars[r.IntN(len(tokenChars))]
	}
	return string(b)
}

// pick returns the index of the first cumulative share above f.
func pick(f float64, cumulative []float64) int {
	for i, c := range cumulative {
		if f < c {
			return i
		}
	}
	return len(cumulative) - 1
}

// visitHeap orders visits in progress by when their next hit is due.
type visitHeap []*visit

func (h visitHeap) Len() int           { return len(h) }
func (h visitHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h visitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *visitHeap) Push(x any)        { *h = append(*h, x.(*visit)) }
func (h *visitHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return v
}
