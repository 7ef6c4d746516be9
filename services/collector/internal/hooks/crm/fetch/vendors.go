package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/throughline/throughline/services/collector/internal/hooks/crm"
)

// instanceKey identifies a CRM instance by scheme and host: the vendors
// count their limits per portal or account, not per URL or token.
func instanceKey(baseURL string) string {
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		return strings.ToLower(u.Scheme + "://" + u.Host)
	}
	return baseURL
}

// Bitrix24 is the REST API of one Bitrix24 portal, reached through its
// incoming-webhook URL ("https://branch.bitrix24.ru/rest/1/abc123/").
type Bitrix24 struct {
	p    *Pool
	in   *instance
	base string
}

var _ crm.Bitrix24API = (*Bitrix24)(nil)

// Bitrix24 returns the client of the portal baseURL belongs to; rps <= 0
// means DefaultBitrix24RPS.
func (p *Pool) Bitrix24(baseURL string, rps float64) *Bitrix24 {
	if rps <= 0 {
		rps = DefaultBitrix24RPS
	}
	return &Bitrix24{p: p, in: p.instance(crm.Bitrix24, instanceKey(baseURL), rps), base: strings.TrimRight(baseURL, "/") + "/"}
}

// Get calls method for id and returns its result object.
func (b *Bitrix24) Get(ctx context.Context, method, id string) (json.RawMessage, error) {
	u := b.base + method + "?" + url.Values{"id": {id}}.Encode()
	body, err := b.p.do(ctx, b.in, crm.Bitrix24, "bitrix24 "+method,
		func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		},
		classifyBitrix24)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("bitrix24 %s %s: %w", method, id, crm.ErrNotFound)
	}
	return body, err
}

// bitrixAnswer is the envelope of every Bitrix24 REST answer.
type bitrixAnswer struct {
	Result      json.RawMessage `json:"result"`
	Error       string          `json:"error"`
	Description string          `json:"error_description"`
}

func classifyBitrix24(status int, h http.Header, body []byte) outcome {
	var a bitrixAnswer
	jsonErr := json.Unmarshal(body, &a)
	if status == http.StatusOK && jsonErr == nil && a.Error == "" {
		r := bytes.TrimSpace(a.Result)
		if len(r) == 0 || bytes.Equal(r, []byte("null")) || bytes.Equal(r, []byte("false")) {
			return outcome{err: errNotFound}
		}
		if r[0] != '{' {
			return outcome{err: fmt.Errorf("result is not an object")}
		}
		return outcome{body: r}
	}
	o := outcome{code: a.Error, retryAfter: retryAfter(h)}
	desc := a.Description
	if desc == "" {
		desc = a.Error
	}
	if desc == "" {
		desc = http.StatusText(status)
		if jsonErr != nil && status == http.StatusOK {
			desc = "answer is not JSON"
		}
	}
	o.err = errors.New(truncate(desc, 200))
	switch {
	case a.Error == "QUERY_LIMIT_EXCEEDED" || status == http.StatusTooManyRequests:
		o.retry = true
	case a.Error == "OVERLOAD_LIMIT":
		// the portal blocked this webhook for overload: retrying makes it worse
	case a.Error == "NOT_FOUND" || strings.Contains(strings.ToLower(a.Description), "not found"):
		return outcome{err: errNotFound}
	case status >= 500 || status == http.StatusOK && jsonErr != nil:
		o.retry = true
	}
	return o
}

// AmoCRM is the REST API of one amoCRM account ("https://acme.amocrm.ru"),
// authorised by a long-lived token.
type AmoCRM struct {
	p     *Pool
	in    *instance
	base  string
	token string
}

var _ crm.AmoCRMAPI = (*AmoCRM)(nil)

// AmoCRM returns the client of the account baseURL belongs to; rps <= 0
// means DefaultAmoCRMRPS.
func (p *Pool) AmoCRM(baseURL, token string, rps float64) *AmoCRM {
	if rps <= 0 {
		rps = DefaultAmoCRMRPS
	}
	return &AmoCRM{p: p, in: p.instance(crm.AmoCRM, instanceKey(baseURL), rps), base: strings.TrimRight(baseURL, "/"), token: token}
}

// Lead returns GET /api/v4/leads/{id}?with=contacts,catalog_elements (the
// elements are the lead's line items: units sold).
func (a *AmoCRM) Lead(ctx context.Context, id string) (json.RawMessage, error) {
	u := a.base + "/api/v4/leads/" + url.PathEscape(id) + "?with=contacts,catalog_elements"
	body, err := a.p.do(ctx, a.in, crm.AmoCRM, "amocrm GET /api/v4/leads",
		func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err == nil && a.token != "" {
				req.Header.Set("Authorization", "Bearer "+a.token)
			}
			return req, err
		}, classifyAmoCRM)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("amocrm lead %s: %w", id, crm.ErrNotFound)
	}
	return body, err
}

func classifyAmoCRM(status int, h http.Header, body []byte) outcome {
	switch {
	case status == http.StatusOK:
		if !json.Valid(body) {
			return outcome{err: errors.New("answer is not JSON"), retry: true}
		}
		return outcome{body: body}
	case status == http.StatusNoContent || status == http.StatusNotFound:
		return outcome{err: errNotFound}
	}
	// amoCRM answers errors as application/problem+json.
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(body, &p)
	msg := strings.TrimSpace(p.Title + ": " + p.Detail)
	msg = strings.Trim(msg, ": ")
	if msg == "" {
		msg = http.StatusText(status)
	}
	o := outcome{err: errors.New(truncate(msg, 200)), retryAfter: retryAfter(h)}
	o.retry = status == http.StatusTooManyRequests || status >= 500
	return o
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// List calls method for id and returns its result list
// (crm.deal.productrows.get answers {"result": [rows…]}).
func (b *Bitrix24) List(ctx context.Context, method, id string) (json.RawMessage, error) {
	u := b.base + method + "?" + url.Values{"id": {id}}.Encode()
	body, err := b.p.do(ctx, b.in, crm.Bitrix24, "bitrix24 "+method,
		func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		},
		classifyBitrix24List)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("bitrix24 %s %s: %w", method, id, crm.ErrNotFound)
	}
	return body, err
}

// classifyBitrix24List is classifyBitrix24 for methods whose result is a
// list: an empty list is an answer, not "not found".
func classifyBitrix24List(status int, h http.Header, body []byte) outcome {
	var a bitrixAnswer
	if status == http.StatusOK && json.Unmarshal(body, &a) == nil && a.Error == "" {
		r := bytes.TrimSpace(a.Result)
		if len(r) > 0 && r[0] == '[' {
			return outcome{body: r}
		}
		if len(r) == 0 || bytes.Equal(r, []byte("null")) {
			return outcome{err: errNotFound}
		}
		return outcome{err: errors.New("result is not a list")}
	}
	return classifyBitrix24(status, h, body)
}
