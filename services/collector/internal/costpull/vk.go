package costpull

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/throughline/throughline/pkg/tenants"
)

// VKURL is the VK Ads API root (https://ads.vk.com/doc/api).
const VKURL = "https://ads.vk.com"

// VK pulls GET /api/v2/statistics/campaigns/day.json with the base metrics
// (shows, clicks, spent) for the ad account the access token belongs to.
type VK struct {
	H    *HTTP
	Conn tenants.CostConnector
}

// Fetch asks for the days from..to.
func (v *VK) Fetch(ctx context.Context, from, to string) (rep Report, err error) {
	token, err := v.Conn.Token()
	if err != nil {
		return Report{}, permanent("%v", err)
	}
	defer func() { err = scrub(err, token) }()
	base := strings.TrimRight(v.Conn.BaseURL, "/")
	if base == "" {
		base = VKURL
	}
	q := url.Values{"date_from": {from}, "date_to": {to}, "metrics": {"base"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v2/statistics/campaigns/day.json?"+q.Encode(), nil)
	if err != nil {
		return Report{}, permanent("vk_ads: base_url: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, answer, err := v.H.do(req)
	if err != nil {
		return Report{}, err
	}
	if resp.StatusCode == http.StatusOK {
		return Report{Format: "vk", Body: answer}, nil
	}
	// {"error": {"code": "invalid_token", "message": ...}} on 401; 429
	// with Retry-After when over the rate limit.
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(answer, &e)
	after := retryAfterHeader(resp.Header, v.H.now())
	if e.Error.Code != "" {
		return Report{}, byStatus(resp.StatusCode, after, "vk_ads: HTTP %d: %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
	}
	return Report{}, byStatus(resp.StatusCode, after, "vk_ads: HTTP %d: %q", resp.StatusCode, snippet(answer))
}
