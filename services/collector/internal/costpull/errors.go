package costpull

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is a failed pull, classified: a permanent one (a revoked token, a
// wrong account id) will fail the same way until someone changes the
// configuration; a transient one (a rate limit, a report still being
// built, a 5xx) is worth retrying, after RetryAfter when the platform said.
type Error struct {
	Permanent  bool
	RetryAfter time.Duration // the platform's own hint; 0 when it gave none
	Err        error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func permanent(format string, args ...any) error {
	return &Error{Permanent: true, Err: fmt.Errorf(format, args...)}
}

func transient(after time.Duration, format string, args ...any) error {
	return &Error{RetryAfter: after, Err: fmt.Errorf(format, args...)}
}

// IsPermanent reports whether err will not go away by retrying.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter is the platform's hint of when to retry err, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// maxHint bounds a platform's retry hint: a hostile or confused answer
// cannot park a connector for days.
const maxHint = time.Hour

// retryAfterHeader reads Retry-After (seconds or an HTTP date).
func retryAfterHeader(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		return clampHint(time.Duration(n) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampHint(t.Sub(now))
	}
	return 0
}

func clampHint(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d > maxHint:
		return maxHint
	}
	return d
}

// byStatus classifies an HTTP failure the platform did not explain:
// 429 and 5xx are transient, other statuses permanent.
func byStatus(status int, after time.Duration, format string, args ...any) error {
	if status == http.StatusTooManyRequests || status >= 500 || status == http.StatusRequestTimeout {
		return transient(after, format, args...)
	}
	return permanent(format, args...)
}

// scrub takes secrets out of an error's text, should a platform echo one
// back in its answer; the classification stays.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, "[redacted]"), true
		}
	}
	if !changed {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		return &Error{Permanent: e.Permanent, RetryAfter: e.RetryAfter, Err: errors.New(msg)}
	}
	return errors.New(msg)
}
