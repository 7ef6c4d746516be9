package costpull

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// FuzzErrorAnswers: whatever a platform answers with an error status, its
// classifier returns a classified error and never panics; a hint is never
// negative nor above maxHint.
func FuzzErrorAnswers(f *testing.F) {
	for _, s := range []string{
		`{"error":{"request_id":"1","error_code":53,"error_string":"Authorization error"}}`,
		`{"error":{"error_code":"9000"}}`,
		`[{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"errors":[{"errorCode":{"quotaError":"X"},"details":{"quotaErrorDetails":{"retryDelay":"30s"}}}]}]}}]`,
		`{"error":{"message":"User request limit reached","type":"OAuthException","code":17,"error_subcode":2446079}}`,
		`{"error":{"code":"invalid_token"}}`, `<html>`, ``, `[{"results":[]},{"error":{}}]`,
	} {
		f.Add(400, s, `{"1":[{"estimated_time_to_regain_access":12}]}`, "120")
	}
	f.Fuzz(func(t *testing.T, status int, body, usage, retryAfter string) {
		if status < 100 || status > 599 {
			status = 400
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		resp.Header.Set("X-Business-Use-Case-Usage", usage)
		resp.Header.Set("Retry-After", retryAfter)
		now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
		for _, err := range []error{yandexError(resp, []byte(body), now), googleError(resp, []byte(body), now), metaError(resp, []byte(body), now)} {
			if err == nil {
				if status != http.StatusOK {
					t.Fatalf("status %d without an error", status)
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("unclassified: %v", err)
			}
			if e.RetryAfter < 0 || e.RetryAfter > maxHint {
				t.Fatalf("hint %s", e.RetryAfter)
			}
		}
	})
}
