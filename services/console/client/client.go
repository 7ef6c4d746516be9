// Package client calls the console's SQL endpoint.
package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Error is an error answer of the console: the engine's message for a bad
// statement, or why the console refused it.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("console answered %d: %s", e.Status, e.Message)
}

// MaxAnswerBytes bounds how much of an answer is read.
const MaxAnswerBytes = 256 << 20

// Query runs one statement through the console at baseURL
// ("http://127.0.0.1:8081") and returns the answer body in format ("json",
// "csv", "tsv"; "" is json). token, when not empty, is sent as a Bearer token.
func Query(ctx context.Context, baseURL, token, sql, format string) ([]byte, error) {
	body, _, err := QueryWithTruncation(ctx, baseURL, token, sql, format)
	return body, err
}

// QueryWithTruncation is Query that also reports whether the console cut
// the rows at its limits.
func QueryWithTruncation(ctx context.Context, baseURL, token, sql, format string) ([]byte, bool, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/") + "/v1/sql")
	if err != nil {
		return nil, false, fmt.Errorf("console url: %w", err)
	}
	if format != "" {
		u.RawQuery = url.Values{"format": {format}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(sql))
	if err != nil {
		return nil, false, fmt.Errorf("building sql request: %w", err)
	}
	req.Header.Set("Content-Type", "application/sql; charset=utf-8")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("calling console: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes))
	if err != nil {
		return nil, false, fmt.Errorf("reading console answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, false, &Error{Status: resp.StatusCode, Message: e.Error}
	}
	return b, resp.Header.Get("X-Throughline-Truncated") == "true", nil
}
