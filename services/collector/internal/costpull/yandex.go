package costpull

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// YandexURL is the Reports API endpoint (https://yandex.ru/dev/direct/doc/ru/spec).
const YandexURL = "https://api.direct.yandex.com/json/v5/reports"

// Polls of an offline report: Yandex answers 201 (queued) or 202 (being
// built) with a retryIn header until the report is ready.
const (
	yandexMaxPolls     = 120
	yandexDefaultRetry = 10 * time.Second
	yandexMaxRetry     = 5 * time.Minute
)

// yandexFields are the report columns the costs parser reads.
var yandexFields = []string{"Date", "CampaignId", "CampaignName", "Impressions", "Clicks", "Cost"}

// Yandex pulls a CAMPAIGN_PERFORMANCE_REPORT in TSV, spend in micro-units.
type Yandex struct {
	H    *HTTP
	Conn tenants.CostConnector
}

// Fetch asks for the report of from..to and polls while Yandex builds it
// offline. A report's name identifies it on Yandex's side: the same name
// with the same parameters is the same report (that is how polling finds
// it), so the name is derived from the parameters.
func (y *Yandex) Fetch(ctx context.Context, from, to string) (rep Report, err error) {
	token, err := y.Conn.Token()
	if err != nil {
		return Report{}, permanent("%v", err)
	}
	defer func() { err = scrub(err, token) }()
	vat := "NO"
	if y.Conn.VAT() {
		vat = "YES"
	}
	params := map[string]any{
		"SelectionCriteria": map[string]string{"DateFrom": from, "DateTo": to},
		"FieldNames":        yandexFields,
		"ReportType":        "CAMPAIGN_PERFORMANCE_REPORT",
		"DateRangeType":     "CUSTOM_DATE",
		"Format":            "TSV",
		"IncludeVAT":        vat,
		"IncludeDiscount":   "NO",
	}
	key, _ := json.Marshal(params)
	sum := sha256.Sum256(append(key, y.Conn.ClientLogin...))
	params["ReportName"] = "throughline " + from + ".." + to + " " + hex.EncodeToString(sum[:6])
	body, _ := json.Marshal(map[string]any{"params": params})
	endpoint := y.Conn.BaseURL
	if endpoint == "" {
		endpoint = YandexURL
	}
	for poll := 0; ; poll++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return Report{}, permanent("yandex_direct: base_url: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept-Language", "en")
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("processingMode", "auto")
		req.Header.Set("skipReportHeader", "true")
		if y.Conn.ClientLogin != "" {
			req.Header.Set("Client-Login", y.Conn.ClientLogin)
		}
		resp, answer, err := y.H.do(req)
		if err != nil {
			return Report{}, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			return Report{Format: "yandex", Body: answer}, nil
		case http.StatusCreated, http.StatusAccepted:
			if poll+1 >= yandexMaxPolls {
				return Report{}, transient(0, "yandex_direct: the report was still being built after %d polls", poll+1)
			}
			if err := y.H.wait(ctx, yandexRetryIn(resp.Header)); err != nil {
				return Report{}, err
			}
			continue
		}
		return Report{}, yandexError(resp, answer, y.H.now())
	}
}

// yandexRetryIn is the retryIn header (seconds), bounded.
func yandexRetryIn(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("retryIn")))
	if err != nil || n <= 0 {
		return yandexDefaultRetry
	}
	return min(time.Duration(n)*time.Second, yandexMaxRetry)
}

// yandexError classifies the Reports API's error answer
// {"error": {"request_id", "error_code", "error_string", "error_detail"}}
// by its code (https://yandex.ru/dev/direct/doc/ru/concepts/errors-list):
// server trouble, the points budget and the offline queue's limits pass;
// authorisation and request errors do not.
func yandexError(resp *http.Response, body []byte, now time.Time) error {
	var e struct {
		Error struct {
			RequestID string          `json:"request_id"`
			Code      json.RawMessage `json:"error_code"`
			String    string          `json:"error_string"`
			Detail    string          `json:"error_detail"`
		} `json:"error"`
	}
	after := retryAfterHeader(resp.Header, now)
	if json.Unmarshal(body, &e) != nil || len(e.Error.Code) == 0 {
		return byStatus(resp.StatusCode, after, "yandex_direct: HTTP %d: %q", resp.StatusCode, snippet(body))
	}
	code, _ := strconv.Atoi(strings.Trim(string(e.Error.Code), `"`))
	msg := "yandex_direct: error " + strconv.Itoa(code) + ": " + e.Error.String
	if e.Error.Detail != "" {
		msg += " (" + e.Error.Detail + ")"
	}
	switch {
	case code == 52, code == 56, code == 152, code == 506, code >= 1000 && code < 2000, code == 9000:
		// auth server unavailable, request limit, not enough points,
		// concurrent connections, server errors, offline queue full
		if after == 0 {
			after = time.Minute
		}
		return transient(after, "%s", msg)
	case code == 53 || code == 54 || code == 58 || code == 513:
		// invalid token, no access, registration not complete, login not a
		// client of the agency: the configuration is wrong
		return permanent("%s", msg)
	}
	return byStatus(resp.StatusCode, after, "%s", msg)
}
