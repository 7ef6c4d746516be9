package costpull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// HTTP is what the fetchers share: the client, the bound on an answer's
// size and how to wait between polls (a timer; tests record instead).
type HTTP struct {
	Client   *http.Client
	MaxBytes int64
	// Wait pauses between polls of a report being built; nil waits on a
	// timer, returning early with ctx's error.
	Wait func(ctx context.Context, d time.Duration) error
	Now  func() time.Time
}

func (h *HTTP) wait(ctx context.Context, d time.Duration) error {
	if h.Wait != nil {
		return h.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (h *HTTP) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// do sends req and reads the answer within MaxBytes. Transport errors are
// transient; they name the host and path, never the query or headers, where
// tokens travel.
func (h *HTTP) do(req *http.Request) (*http.Response, []byte, error) {
	where := redact(req.URL)
	resp, err := h.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if req.Context().Err() != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", req.Method, where, req.Context().Err())
		}
		return nil, nil, transient(0, "%s %s: %v", req.Method, where, err)
	}
	defer resp.Body.Close()
	max := h.MaxBytes
	if max <= 0 {
		max = 64 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, nil, transient(0, "%s %s: reading the answer: %v", req.Method, where, err)
	}
	if int64(len(body)) > max {
		return nil, nil, permanent("%s %s: the answer is larger than %d bytes: pull fewer days (restate_days)", req.Method, where, max)
	}
	return resp, body, nil
}

// redact is a URL without its query and user info, for errors and logs.
func redact(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// snippet is the start of an answer for an error message.
func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
