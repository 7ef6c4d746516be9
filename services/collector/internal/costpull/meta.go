package costpull

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// MetaURL is the Graph API root the Insights edge hangs from
// (https://developers.facebook.com/docs/marketing-api/insights).
const MetaURL = "https://graph.facebook.com/v21.0"

// metaMaxPages bounds the pages of one pull (500 rows each).
const metaMaxPages = 1000

// Meta pulls GET /act_<id>/insights at level=campaign with time_increment=1
// (a row per campaign and day), following paging.next.
type Meta struct {
	H    *HTTP
	Conn tenants.CostConnector
}

// Fetch pulls from..to and joins the pages' rows into one JSON array, the
// shape the costs parser reads as format meta.
func (m *Meta) Fetch(ctx context.Context, from, to string) (rep Report, err error) {
	token, err := m.Conn.Token()
	if err != nil {
		return Report{}, permanent("%v", err)
	}
	defer func() { err = scrub(err, token) }()
	base := strings.TrimRight(m.Conn.BaseURL, "/")
	if base == "" {
		base = MetaURL
	}
	origin, err := url.Parse(base)
	if err != nil {
		return Report{}, permanent("meta: base_url: %v", err)
	}
	rng, _ := json.Marshal(map[string]string{"since": from, "until": to})
	q := url.Values{"level": {"campaign"}, "time_increment": {"1"}, "time_range": {string(rng)}, "limit": {"500"},
		"fields": {"campaign_id,campaign_name,spend,clicks,impressions,account_currency"}}
	next := base + "/act_" + strings.TrimPrefix(m.Conn.AdAccountID, "act_") + "/insights?" + q.Encode()
	var rows []json.RawMessage
	for page := 0; next != ""; page++ {
		if page == metaMaxPages {
			return Report{}, permanent("meta: more than %d pages of insights: pull fewer days (restate_days)", metaMaxPages)
		}
		u, err := url.Parse(next)
		if err != nil || u.Scheme != origin.Scheme || u.Host != origin.Host {
			// paging.next is followed only to the API itself: an answer
			// cannot send the token elsewhere
			return Report{}, permanent("meta: paging.next leaves %s", origin.Host)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return Report{}, permanent("meta: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, answer, err := m.H.do(req)
		if err != nil {
			return Report{}, err
		}
		if resp.StatusCode != http.StatusOK {
			return Report{}, metaError(resp, answer, m.H.now())
		}
		var p struct {
			Data   []json.RawMessage `json:"data"`
			Paging struct {
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := json.Unmarshal(answer, &p); err != nil {
			return Report{}, transient(0, "meta: not Insights JSON: %v", err)
		}
		rows = append(rows, p.Data...)
		next = p.Paging.Next
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(r)
	}
	buf.WriteByte(']')
	return Report{Format: "meta", Body: buf.Bytes()}, nil
}

// metaError classifies the Graph API's error object {"error": {"message",
// "type", "code", "error_subcode", "fbtrace_id"}}: the throttling codes
// (4, 17, 32, 613, 80000–80014) and service errors (1, 2) pass; an invalid
// token (190) or a missing permission (10, 200–299) does not. When throttled,
// X-Business-Use-Case-Usage says in estimated_time_to_regain_access
// (minutes) when to come back
// (https://developers.facebook.com/docs/marketing-api/overview/rate-limiting).
func metaError(resp *http.Response, body []byte, now time.Time) error {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
			Subcode int    `json:"error_subcode"`
			Trace   string `json:"fbtrace_id"`
		} `json:"error"`
	}
	after := max(retryAfterHeader(resp.Header, now), metaRegain(resp.Header))
	if json.Unmarshal(body, &e) != nil || e.Error.Code == 0 {
		return byStatus(resp.StatusCode, after, "meta: HTTP %d: %q", resp.StatusCode, snippet(body))
	}
	msg := fmt.Sprintf("meta: %s %d/%d: %s (fbtrace %s)", e.Error.Type, e.Error.Code, e.Error.Subcode, e.Error.Message, e.Error.Trace)
	switch c := e.Error.Code; {
	case c == 4 || c == 17 || c == 32 || c == 613 || c >= 80000 && c <= 80014:
		if after == 0 {
			after = 5 * time.Minute
		}
		return transient(after, "%s", msg)
	case c == 1 || c == 2:
		return transient(after, "%s", msg)
	case c == 190 || c == 102 || c == 10 || c >= 200 && c <= 299:
		return permanent("%s", msg)
	}
	return byStatus(resp.StatusCode, after, "%s", msg)
}

// metaRegain reads the longest estimated_time_to_regain_access (minutes)
// of X-Business-Use-Case-Usage: {"<business id>": [{"type": ...,
// "estimated_time_to_regain_access": N, ...}]}.
func metaRegain(h http.Header) time.Duration {
	v := h.Get("X-Business-Use-Case-Usage")
	if v == "" {
		return 0
	}
	var usage map[string][]struct {
		Regain int `json:"estimated_time_to_regain_access"`
	}
	if json.Unmarshal([]byte(v), &usage) != nil {
		return 0
	}
	var d time.Duration
	for _, us := range usage {
		for _, u := range us {
			d = max(d, time.Duration(u.Regain)*time.Minute)
		}
	}
	return clampHint(d)
}
