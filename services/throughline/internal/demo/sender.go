package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// stats are the sender's counters, in events.
type stats struct {
	sent     atomic.Int64 // handed to the collector (first attempts)
	accepted atomic.Int64 // answered 2xx
	failed   atomic.Int64 // refused (4xx) or given up after retries
	retries  atomic.Int64 // attempts repeated after 503/429, 5xx or a network error
	kinds    [numKinds]kindStats
}

// kindStats count the requests of calls, CRM changes and cost uploads.
type kindStats struct {
	sent, accepted, failed atomic.Int64
	// deadLettered are accepted (200) but dead-lettered by the collector:
	// vendors that must get a 200 (amoCRM, Bitrix24) get one anyway.
	deadLettered atomic.Int64
}

// sender delivers hits to the collector's public endpoints and honours its
// backpressure: after a 503 or 429 every worker waits out the Retry-After.
type sender struct {
	base        string
	client      *http.Client
	log         zerolog.Logger
	st          *stats
	maxAttempts int
	pauseUntil  atomic.Int64 // Unix ns before which no request is sent
	warned      atomic.Int64
}

// maxWarnings bounds how many refused requests are logged one by one.
const maxWarnings = 5

// item is a server-side event in the events API's JSON shape.
type item struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Name      string            `json:"name,omitempty"`
	TS        int64             `json:"ts"`
	ClientID  string            `json:"client_id"`
	URL       string            `json:"url,omitempty"`
	Referrer  string            `json:"referrer,omitempty"`
	Props     map[string]string `json:"props,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	IP        string            `json:"ip,omitempty"`
}

// pixel sends one browser hit as GET /px.gif. withTS sends the event time
// (history); live hits are stamped by the collector, as a browser's are.
func (s *sender) pixel(ctx context.Context, key string, h hit, withTS bool) {
	q := url.Values{"k": {key}, "cid": {h.clientID}, "u": {h.url}, "eid": {h.id}}
	if h.referrer != "" {
		q.Set("r", h.referrer)
	}
	if h.typ != "pageview" {
		q.Set("t", h.typ)
		q.Set("n", h.name)
	}
	if withTS {
		q.Set("ts", strconv.FormatInt(h.ts.UnixMilli(), 10))
	}
	u := s.base + "/px.gif?" + q.Encode()
	s.send(ctx, 1, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err == nil {
			req.Header.Set("User-Agent", h.ua)
			req.Header.Set("Referer", h.url)
		}
		return req, err
	})
}

// events sends server-side events of one account as POST /v1/events.
func (s *sender) events(ctx context.Context, key string, hs []hit) {
	items := make([]item, len(hs))
	for i, h := range hs {
		items[i] = item{ID: h.id, Type: h.typ, Name: h.name, TS: h.ts.UnixMilli(), ClientID: h.clientID,
			URL: h.url, Referrer: h.referrer, Props: h.props, UserAgent: h.ua, IP: h.ip}
	}
	body, err := json.Marshal(items)
	if err != nil {
		s.st.failed.Add(int64(len(hs)))
		s.log.Error().Err(err).Msg("encoding demo events")
		return
	}
	s.send(ctx, len(hs), func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/events", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", "throughline-demo-backend/1")
		}
		return req, err
	})
}

// hook sends a call tracker's or a CRM's webhook, or a cost upload.
func (s *sender) hook(ctx context.Context, h *hookReq) {
	k := &s.st.kinds[h.kind]
	k.sent.Add(1)
	if h.before != nil {
		h.before()
	}
	ok := s.send(ctx, 0, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, h.method, s.base+h.target, bytes.NewReader(h.body))
		if err == nil {
			req.Header.Set("Content-Type", h.ctype)
			req.Header.Set("User-Agent", "throughline-demo-"+kindNames[h.kind]+"/1")
			for k, v := range h.header {
				req.Header.Set(k, v)
			}
		}
		return req, err
	}, func(body []byte) {
		if bytes.Contains(body, []byte(`"dead_lettered":true`)) {
			k.deadLettered.Add(1)
		}
		if h.answered != nil {
			h.answered(body)
		}
	})
	if ok {
		k.accepted.Add(1)
	} else if ctx.Err() == nil {
		k.failed.Add(1)
	}
}

// send runs a request until the collector accepts or refuses it, or the
// attempts run out. n is how many events the request carries; answered,
// when set, reads the body of a 2xx. It reports whether the request was
// accepted.
func (s *sender) send(ctx context.Context, n int, build func() (*http.Request, error), answered ...func([]byte)) bool {
	s.st.sent.Add(int64(n))
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if !s.waitPause(ctx) {
			return false
		}
		req, err := build()
		if err != nil {
			s.st.failed.Add(int64(n))
			s.log.Error().Err(err).Msg("building demo request")
			return false
		}
		resp, err := s.client.Do(req)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return false
			}
			wait = jitter(backoff)
			backoff = min(2*backoff, 5*time.Second)
			s.log.Debug().Err(err).Msg("demo request failed")
		case resp.StatusCode/100 == 2:
			if len(answered) > 0 {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				answered[0](b)
			}
			drain(resp)
			s.st.accepted.Add(int64(n))
			return true
		case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
			wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
			drain(resp)
			s.pause(wait)
		case resp.StatusCode >= 500:
			drain(resp)
			wait = jitter(backoff)
			backoff = min(2*backoff, 5*time.Second)
		default:
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			s.st.failed.Add(int64(n))
			if s.warned.Add(1) <= maxWarnings {
				s.log.Warn().Int("status", resp.StatusCode).Str("path", req.URL.Path).Str("body", string(b)).
					Msg("collector refused demo request")
			}
			return false
		}
		if attempt >= s.maxAttempts {
			s.st.failed.Add(int64(n))
			return false
		}
		s.st.retries.Add(1)
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// pause holds every worker back until d from now.
func (s *sender) pause(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := s.pauseUntil.Load()
		if cur >= until || s.pauseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

func (s *sender) waitPause(ctx context.Context) bool {
	d := time.Until(time.Unix(0, s.pauseUntil.Load()))
	if d <= 0 {
		return ctx.Err() == nil
	}
	return sleep(ctx, d)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 1 s when
// absent or unreadable, at most a minute.
func retryAfter(v string, now time.Time) time.Duration {
	d := time.Second
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Minute)
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// summary logs the counters and the accepted rate since the last summary.
func (st *stats) summary(log zerolog.Logger, msg string, prevAccepted int64, since time.Duration) int64 {
	acc := st.accepted.Load()
	rate := 0.0
	if since > 0 {
		rate = float64(acc-prevAccepted) / since.Seconds()
	}
	ev := log.Info().Int64("sent", st.sent.Load()).Int64("accepted", acc).Int64("failed", st.failed.Load()).
		Int64("retries", st.retries.Load()).Str("rate", fmt.Sprintf("%.1f/s", rate))
	for i := range st.kinds {
		k := &st.kinds[i]
		d := zerolog.Dict().Int64("sent", k.sent.Load()).Int64("accepted", k.accepted.Load()).Int64("failed", k.failed.Load())
		if n := k.deadLettered.Load(); n > 0 {
			d = d.Int64("dead_lettered", n)
		}
		ev = ev.Dict(kindNames[i], d)
	}
	ev.Msg(msg)
	return acc
}
