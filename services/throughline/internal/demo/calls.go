package demo

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/pkg/vendorsign"
)

// Call behaviour.
const (
	callAfterClick  = 0.7  // clicks on the phone number followed by a call
	answeredShare   = 0.82 // calls someone picks up
	shortShare      = 0.2  // answered calls over in under targetTalk (not target calls)
	offlineCallsDay = 25.0 // calls a day to the network's billboard and flyer numbers
	targetTalk      = 30   // seconds of conversation that make a target call
	poolSize        = 10   // numbers in a branch's dynamic Calltouch pool
)

// lines are a branch's tracking numbers.
type lines struct {
	ct      *tenants.CallTracking // calltouch or mango; nil: the branch has neither
	pool    *tenants.NumberPool   // Throughline's own number pool, if the branch has one
	site    map[string]string     // channel → static site number (Mango)
	offline []string              // static numbers of the offline channel
}

// linesOf reads a branch's call tracking from its account: the first
// Calltouch or Mango integration, with its static numbers.
func linesOf(a *tenants.Account) lines {
	var l lines
	if a == nil {
		return l
	}
	for i := range a.CallTracking {
		if p := a.CallTracking[i].Provider; dynamicNumbers(p) || p == vendorMango {
			l.ct = &a.CallTracking[i]
			break
		}
	}
	if l.ct == nil {
		return l
	}
	l.pool, _ = a.NumberPool()
	numbers := make([]string, 0, len(l.ct.StaticNumbers))
	for n := range l.ct.StaticNumbers {
		numbers = append(numbers, n)
	}
	sort.Strings(numbers)
	l.site = map[string]string{}
	for _, n := range numbers {
		sn := l.ct.StaticNumbers[n]
		switch {
		case sn.Channel == "offline":
			l.offline = append(l.offline, n)
		case l.site[sn.Channel] == "":
			l.site[sn.Channel] = n
		}
	}
	return l
}

// call is one call to a branch's tracking number.
type call struct {
	bi         int
	id         string
	start      time.Time
	caller     string  // E.164
	tracking   string  // E.164
	clientID   string  // the visitor's, reported by Calltouch for a dynamic number
	lease      *leased // Throughline's pool: the number the collector leased
	landing    string
	ref        string
	channel    string // the story's channel: the visit's, or offline
	wait, talk int
	answered   bool
}

// phoneClicked: most visitors who click the phone number call it a little
// later — the Calltouch number substituted for them (the call carries their
// client id), or the Mango number of the channel they came through.
func (w *world) phoneClicked(vis *visit, now time.Time) {
	l := w.lines[vis.branch]
	if l.ct == nil || w.r.Float64() >= callAfterClick {
		return
	}
	c := &call{bi: vis.branch, start: now.Add(time.Duration(5+w.r.IntN(85)) * time.Second),
		caller: vis.v.phone, channel: channels[vis.channel].name, landing: vis.landing, ref: vis.ref}
	if w.story.silentVisit(vis, c.start) {
		return // the silent channel's visitors do not call meanwhile
	}
	switch {
	case l.pool != nil && w.live:
		// Throughline's number insertion: the page leases a number for the
		// visitor, who dials it; the PBX reports the call without a client
		// id. (In history the collector's clock is not the visit's.)
		c.lease = w.leaseNumber(w.branches[vis.branch], vis.v.clientID, now)
	case dynamicNumbers(l.ct.Provider):
		c.tracking, c.clientID = poolNumber(vis.branch, w.r.IntN(poolSize)), vis.v.clientID
	default:
		c.tracking = l.site[c.channel]
	}
	w.placeCall(c)
}

// planOfflineCalls schedules the day's calls to the billboard and flyer
// numbers — people who never visited the site — within business hours
// (9:00-21:00) from `from` on.
func (w *world) planOfflineCalls(day, from time.Time) {
	open, closing := day.Add(9*time.Hour), day.Add(21*time.Hour)
	if from.After(open) {
		open = from
	}
	if !open.Before(closing) {
		return
	}
	total := 0.0
	for _, x := range w.weights {
		total += x
	}
	share := float64(closing.Sub(open)) / float64(12*time.Hour)
	for bi := range w.branches {
		l := w.lines[bi]
		if l.ct == nil || len(l.offline) == 0 {
			continue
		}
		for range poisson(w.r.Float64, offlineCallsDay*share*w.weights[bi]/total) {
			at := open.Add(time.Duration(w.r.Int64N(int64(closing.Sub(open)))))
			w.placeCall(&call{bi: bi, start: at, caller: randomPhone(w), channel: "offline",
				tracking: l.offline[w.r.IntN(len(l.offline))]})
		}
	}
}

// placeCall decides how the call goes and schedules the vendor's webhook
// at its end; a target call becomes a lead in the branch's CRM.
func (w *world) placeCall(c *call) {
	l := w.lines[c.bi]
	n := w.nextID()
	c.id = strconv.FormatUint(n, 10)
	if l.ct.Provider == vendorMango {
		c.id = base64.StdEncoding.EncodeToString([]byte("demo:" + c.id))
	}
	c.answered = w.r.Float64() < answeredShare
	if c.answered {
		c.wait = 3 + w.r.IntN(25)
		if w.r.Float64() < shortShare {
			c.talk = 5 + w.r.IntN(targetTalk-5)
		} else {
			c.talk = targetTalk + 15 + int(w.r.ExpFloat64()*180)
		}
	} else {
		c.wait = 15 + w.r.IntN(45)
	}
	end := c.start.Add(time.Duration(c.wait+c.talk) * time.Second)
	w.at(end, 0, func(time.Time) []*hookReq { return []*hookReq{w.callRequest(c)} })
	if c.answered && c.talk >= targetTalk {
		w.newLead(leadFrom{bi: c.bi, channel: c.channel, kind: "call", clientID: c.clientID, callID: c.id,
			phone: c.caller, at: end.Add(w.crmDelay(time.Duration(60+w.r.IntN(240)) * time.Second))})
	}
}

// leased is the number GET /v1/numbers answered, set on a sender goroutine.
type leased struct {
	mu     sync.Mutex
	number string
}

func (l *leased) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.number
}

// leaseNumber asks the collector for a pool number for the visitor now,
// as the tracker does on a page that shows the branch's phone.
func (w *world) leaseNumber(b *branch, clientID string, now time.Time) *leased {
	l := &leased{}
	w.at(now, 0, func(time.Time) []*hookReq {
		return []*hookReq{{kind: kindNumbers, method: "GET",
			target: "/v1/numbers?k=" + url.QueryEscape(b.key) + "&cid=" + url.QueryEscape(clientID),
			answered: func(body []byte) {
				var rep struct {
					Number string `json:"number"`
				}
				if json.Unmarshal(body, &rep) == nil {
					l.mu.Lock()
					l.number = rep.Number
					l.mu.Unlock()
				}
			}}}
	})
	return l
}

// callRequest is the vendor's webhook about a finished call.
func (w *world) callRequest(c *call) *hookReq {
	b := w.branches[c.bi]
	if c.lease != nil {
		// Dialled from the page; with no answer in time (the collector
		// behind), the page showed the default phone: a pool number nobody
		// holds now is the closest the demo can dial.
		if c.tracking = c.lease.get(); c.tracking == "" {
			c.tracking = w.lines[c.bi].pool.Numbers[0]
		}
		return genericCall(b, c)
	}
	switch ct := w.lines[c.bi].ct; ct.Provider {
	case vendorMango:
		return w.mangoSummary(b, c)
	case vendorAlloka:
		return allokaHook(b, c, ct.Secret)
	case vendorCallibri:
		return callibriHook(b, c, ct.Secret)
	}
	return calltouchHook(b, c)
}

// calltouchHook is Calltouch's lead webhook at the end of a call, POSTed
// as a form with the parameters docs/webhooks/calltouch.md asks to tick.
func calltouchHook(b *branch, c *call) *hookReq {
	f := url.Values{
		"callId":       {c.id},
		"callphase":    {"calldisconnected"},
		"callerphone":  {strings.TrimPrefix(c.caller, "+")},
		"phonenumber":  {strings.TrimPrefix(c.tracking, "+")},
		"timestamp":    {strconv.FormatInt(c.start.Unix(), 10)},
		"duration":     {strconv.Itoa(c.talk)},
		"waiting_time": {strconv.Itoa(c.wait)},
		"successful":   {strconv.FormatBool(c.answered)},
		"hostname":     {strings.TrimPrefix(b.site, "https://")},
	}
	if c.answered {
		f.Set("recordUrl", "https://api.calltouch.ru/calls-service/RestAPI/demo/calls-diary/calls/"+c.id+"/download")
	}
	if c.clientID != "" {
		f.Set("tl_client_id", c.clientID)
		f.Set("sessionId", c.id[len(c.id)-6:])
		f.Set("url", c.landing)
		if c.ref != "" {
			f.Set("ref", c.ref)
		}
		if u, err := url.Parse(c.landing); err == nil {
			for k, v := range u.Query() {
				if strings.HasPrefix(k, "utm_") {
					f[k] = v
				}
			}
		}
	}
	return &hookReq{kind: kindCalls, method: "POST", target: "/v1/hooks/calls/calltouch?k=" + url.QueryEscape(b.server),
		ctype: "application/x-www-form-urlencoded", body: []byte(f.Encode())}
}

// genericCall is the generic call webhook of the branch's PBX about a call
// to a pool number: no client id, the stitcher finds the visitor by lease.
func genericCall(b *branch, c *call) *hookReq {
	body, _ := json.Marshal(map[string]any{
		"call_id": "pbx-" + c.id, "started_at": c.start.UnixMilli(), "caller": c.caller,
		"tracking_number": c.tracking, "direction": "in", "wait_sec": c.wait, "talk_sec": c.talk, "answered": c.answered,
	})
	return &hookReq{kind: kindCalls, method: "POST", target: "/v1/hooks/calls/generic",
		ctype: "application/json", header: map[string]string{"X-Write-Key": b.server}, body: body}
}

// mangoSummary is Mango Office's events/summary of a call, signed with the
// branch's salt, POSTed to the URL Mango appends the event to.
func (w *world) mangoSummary(b *branch, c *call) *hookReq {
	create := c.start.Unix()
	talk, end, result, reason := int64(0), create+int64(c.wait), 0, 1100
	if c.answered {
		talk = create + int64(c.wait)
		end, result, reason = talk+int64(c.talk), 1, 1110
	}
	line := strings.TrimPrefix(c.tracking, "+")
	summary, _ := json.Marshal(map[string]any{
		"entry_id": c.id, "call_direction": 1,
		"from":        map[string]string{"number": strings.TrimPrefix(c.caller, "+"), "extension": ""},
		"to":          map[string]string{"number": line, "extension": "101", "line_number": line, "acd_group": ""},
		"line_number": line, "create_time": create, "forward_time": create + 2, "talk_time": talk,
		"end_time": end, "entry_result": result, "disconnect_reason": reason,
	})
	apiKey := "vpbx" + strconv.FormatUint(hash64("mango-api", b.id), 16)
	ct := w.lines[c.bi].ct
	f := url.Values{"vpbx_api_key": {apiKey}, "json": {string(summary)},
		"sign": {vendorsign.Mango(apiKey, string(summary), ct.Secret)}}
	return &hookReq{kind: kindCalls, method: "POST", target: "/v1/hooks/calls/mango/k/" + url.PathEscape(b.server) + "/events/summary",
		ctype: "application/x-www-form-urlencoded", body: []byte(f.Encode())}
}

// poisson draws a Poisson-distributed count with mean lambda (Knuth).
func poisson(rnd func() float64, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rnd()
		if p <= l {
			return k
		}
		k++
	}
}

func randomPhone(w *world) string {
	return "+7916" + strconv.Itoa(1_000_000+w.r.IntN(9_000_000))
}
