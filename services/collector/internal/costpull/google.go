package costpull

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// Google Ads endpoints: the API root (versioned) and Google's OAuth token
// endpoint (https://developers.google.com/google-ads/api/rest/auth).
const (
	GoogleURL      = "https://googleads.googleapis.com/v21"
	GoogleTokenURL = "https://oauth2.googleapis.com/token"
)

// Google pulls GoogleAdsService.SearchStream with GAQL, authenticating
// with an access token exchanged from the refresh token, the developer
// token and, for a customer reached through a manager, login-customer-id.
type Google struct {
	H    *HTTP
	Conn tenants.CostConnector

	mu      sync.Mutex
	access  string
	expires time.Time
}

// Fetch runs the query for from..to.
func (g *Google) Fetch(ctx context.Context, from, to string) (rep Report, err error) {
	refresh, err := g.Conn.Token()
	if err != nil {
		return Report{}, permanent("%v", err)
	}
	dev, err := g.Conn.DeveloperToken()
	if err != nil {
		return Report{}, permanent("%v", err)
	}
	secret, err := g.Conn.ClientSecret()
	if err != nil {
		return Report{}, permanent("%v", err)
	}
	access := ""
	defer func() { err = scrub(err, refresh, dev, secret, access) }()
	if access, err = g.token(ctx, refresh, secret); err != nil {
		return Report{}, err
	}
	base := strings.TrimRight(g.Conn.BaseURL, "/")
	if base == "" {
		base = GoogleURL
	}
	query := fmt.Sprintf("SELECT segments.date, campaign.id, campaign.name, metrics.cost_micros, metrics.clicks, "+
		"metrics.impressions, customer.currency_code FROM campaign WHERE segments.date BETWEEN '%s' AND '%s'", from, to)
	body, _ := json.Marshal(map[string]string{"query": query})
	endpoint := base + "/customers/" + digits(g.Conn.CustomerID) + "/googleAds:searchStream"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Report{}, permanent("google_ads: base_url: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("developer-token", dev)
	req.Header.Set("Content-Type", "application/json")
	if g.Conn.LoginCustomerID != "" {
		req.Header.Set("login-customer-id", digits(g.Conn.LoginCustomerID))
	}
	resp, answer, err := g.H.do(req)
	if err != nil {
		return Report{}, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		g.forget() // expired or revoked: the next attempt exchanges again
	}
	if err := googleError(resp, answer, g.H.now()); err != nil {
		return Report{}, err
	}
	return Report{Format: "google", Body: answer}, nil
}

// token is a cached access token, exchanged anew a minute before it expires.
func (g *Google) token(ctx context.Context, refresh, secret string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.access != "" && g.H.now().Before(g.expires) {
		return g.access, nil
	}
	tokenURL := g.Conn.TokenURL
	if tokenURL == "" {
		tokenURL = GoogleTokenURL
	}
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {g.Conn.ClientID},
		"client_secret": {secret}, "refresh_token": {refresh}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", permanent("google_ads: token_url: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, answer, err := g.H.do(req)
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(answer, &tok)
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		after := retryAfterHeader(resp.Header, g.H.now())
		if tok.Error == "invalid_grant" || tok.Error == "invalid_client" || tok.Error == "unauthorized_client" {
			return "", permanent("google_ads: refreshing the access token: %s: %s (issue a new refresh token)", tok.Error, tok.Description)
		}
		if tok.Error != "" {
			return "", byStatus(resp.StatusCode, after, "google_ads: refreshing the access token: %s: %s", tok.Error, tok.Description)
		}
		return "", byStatus(resp.StatusCode, after, "google_ads: refreshing the access token: HTTP %d", resp.StatusCode)
	}
	g.access = tok.AccessToken
	g.expires = g.H.now().Add(time.Duration(max(tok.ExpiresIn-60, 0)) * time.Second)
	return g.access, nil
}

func (g *Google) forget() {
	g.mu.Lock()
	g.access = ""
	g.mu.Unlock()
}

// googleStatus is Google's error object: {"error": {"code", "message",
// "status", "details": [{"@type": ...GoogleAdsFailure, "errors": [...]}]}}.
type googleStatus struct {
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Errors []struct {
				ErrorCode map[string]string `json:"errorCode"`
				Message   string            `json:"message"`
				Details   struct {
					QuotaErrorDetails struct {
						RetryDelay string `json:"retryDelay"`
					} `json:"quotaErrorDetails"`
				} `json:"details"`
			} `json:"errors"`
			RequestID string `json:"requestId"`
		} `json:"details"`
	} `json:"error"`
}

// googleError finds an error in a searchStream answer: a non-200 status
// with Google's error object (alone or as an element of the stream's
// array), or a 200 stream whose later element is an error because it broke
// off mid-way — that answer is incomplete and must not restate anything.
// https://developers.google.com/google-ads/api/docs/best-practices/error-types
func googleError(resp *http.Response, body []byte, now time.Time) error {
	var statuses []googleStatus
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		_ = json.Unmarshal(trimmed, &statuses)
	} else {
		var one googleStatus
		if json.Unmarshal(trimmed, &one) == nil {
			statuses = append(statuses, one)
		}
	}
	after := retryAfterHeader(resp.Header, now)
	for _, s := range statuses {
		if s.Error == nil {
			continue
		}
		e := s.Error
		msg := fmt.Sprintf("google_ads: %s (%d): %s", e.Status, e.Code, e.Message)
		for _, d := range e.Details {
			for _, x := range d.Errors {
				for k, v := range x.ErrorCode {
					msg += fmt.Sprintf("; %s %s: %s", k, v, x.Message)
				}
				if rd, err := time.ParseDuration(x.Details.QuotaErrorDetails.RetryDelay); err == nil && rd > after {
					after = clampHint(rd)
				}
			}
			if d.RequestID != "" {
				msg += " (request " + d.RequestID + ")"
			}
		}
		switch e.Status {
		case "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED", "UNAUTHENTICATED":
			// UNAUTHENTICATED: the access token expired; the next attempt
			// exchanges the refresh token again (a revoked refresh token
			// fails there, permanently)
			return transient(after, "%s", msg)
		case "":
			return byStatus(resp.StatusCode, after, "%s", msg)
		}
		return permanent("%s", msg)
	}
	if resp.StatusCode != http.StatusOK {
		return byStatus(resp.StatusCode, after, "google_ads: HTTP %d: %q", resp.StatusCode, snippet(body))
	}
	return nil
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
