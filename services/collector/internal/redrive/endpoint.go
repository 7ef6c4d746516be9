// Package redrive is the collector's re-drive endpoint, POST
// /v1/internal/redrive: it takes a dead letter as read from the dead-letter
// topic and sends its payload through the collector's own route for its
// source, as the account it was received for, inside the process
// (intake.WithRedrive marks it). The command that reads the topic and calls
// the endpoint is services/collector/redrive.
package redrive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

// Route is the operators' endpoint that re-submits a dead letter to the
// route of its source, as the account it was received for.
const Route = "/v1/internal/redrive"

// Endpoint serves Route.
type Endpoint struct {
	// Token authorises requests (Authorization: Bearer); empty turns the
	// endpoint off (404).
	Token string
	// MaxBytes bounds a dead letter's record.
	MaxBytes int64
	// Tenants finds the write key of a dead letter's account; nil: nothing
	// can be re-driven.
	Tenants *tenants.Config
	// Routes are the collector's routes the payload is sent through.
	Routes http.Handler
	Log    zerolog.Logger
}

// Answer is the re-drive endpoint's 200: what the source's route
// answered to the re-submitted payload.
type Answer struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// ServeHTTP handles POST /v1/internal/redrive: the body is a dead letter
// as read from the dead-letter topic. Its payload is sent through the
// collector's own handler for its source, authenticated with a write key of
// its account (never leaving the process), so the fixed pipeline processes
// it exactly as a new delivery — and derives the same event ids.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	want := e.Token
	if want == "" {
		intake.WriteError(w, http.StatusNotFound, "re-drive is off: set --collector-redrive-token", "", "")
		return
	}
	got := ""
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(tok)
	}
	gs, ws := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	if got == "" || subtle.ConstantTimeCompare(gs[:], ws[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="throughline-redrive"`)
		intake.WriteError(w, http.StatusUnauthorized, "re-drive token required", "", "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.MaxBytes))
	if err != nil {
		intake.WriteError(w, http.StatusRequestEntityTooLarge, "dead letter too large or unreadable", "body", "")
		return
	}
	var dl event.DeadLetter
	if err := json.Unmarshal(body, &dl); err != nil || dl.Source == "" || dl.Tenant == "" {
		intake.WriteError(w, http.StatusBadRequest, "body must be a dead-letter record with tenant and source", "body", "invalid")
		return
	}
	if reason, ok := notRedrivable(&dl); ok {
		intake.WriteError(w, http.StatusUnprocessableEntity, reason, "reason", "not re-drivable")
		return
	}
	key, err := e.key(&dl)
	if err != nil {
		intake.WriteError(w, http.StatusNotFound, err.Error(), "account", "unknown")
		return
	}
	req, err := Request(r.Context(), &dl, key)
	if err != nil {
		intake.WriteError(w, http.StatusUnprocessableEntity, err.Error(), "source", "not re-drivable")
		return
	}
	rec := &recorder{header: http.Header{}}
	e.Routes.ServeHTTP(rec, req)
	e.Log.Info().Str("tenant", dl.Tenant).Str("account", dl.Account).Str("source", dl.Source).
		Int("status", rec.status).Msg("dead letter re-driven")
	intake.WriteJSON(w, http.StatusOK, Answer{Status: rec.status, Body: strings.TrimSpace(rec.body.String())})
}

// notRedrivable says why a dead letter must not be re-driven: deliveries
// that failed authentication stay refused, and a truncated payload is not
// what was sent.
func notRedrivable(dl *event.DeadLetter) (string, bool) {
	switch {
	case strings.HasPrefix(dl.Reason, intake.ReasonPrefixUnauthenticated):
		return "dead letters that failed authentication are not re-driven", true
	case strings.Contains(dl.Reason, "(payload truncated to its first"):
		return "the payload was truncated when it was dead-lettered", true
	}
	return "", false
}

// key is a write key of the dead letter's account (a tenant key for
// a tenant-level dead letter), used only inside this process.
func (e *Endpoint) key(dl *event.DeadLetter) (string, error) {
	if e.Tenants == nil {
		return "", errors.New("the collector runs without the tenants configuration")
	}
	t, a := e.Tenants.Find(dl.Tenant, dl.Account)
	switch {
	case t == nil:
		return "", fmt.Errorf("tenant %q is not configured", dl.Tenant)
	case dl.Account == "" && len(t.TenantKeys) > 0:
		return t.TenantKeys[0], nil
	case dl.Account == "":
		return "", fmt.Errorf("tenant %q has no tenant key", dl.Tenant)
	case a == nil:
		return "", fmt.Errorf("account %q of tenant %q is not configured", dl.Account, dl.Tenant)
	case a.ServerKey() != "":
		return a.ServerKey(), nil
	case a.SiteKey() != "" && (dl.Source == intake.SourcePixel || dl.Source == intake.SourceAPI):
		return a.SiteKey(), nil
	}
	return "", fmt.Errorf("account %q of tenant %q has no server key", dl.Account, dl.Tenant)
}

// Request builds the request a dead letter's source's route receives.
func Request(ctx context.Context, dl *event.DeadLetter, key string) (*http.Request, error) {
	method, target := http.MethodPost, ""
	kind, provider, _ := strings.Cut(dl.Source, ":")
	switch {
	case dl.Source == intake.SourcePixel:
		method, target = http.MethodGet, "/px.gif?"+dl.Payload
	case dl.Source == intake.SourceAPI:
		target = "/v1/events"
	case kind == "crm" && provider != "":
		target = "/v1/hooks/crm/" + url.PathEscape(provider)
	case kind == "chat" && provider != "":
		target = "/v1/hooks/chats/" + url.PathEscape(provider)
	case kind == "hook" && provider != "":
		target = "/v1/hooks/calls/" + url.PathEscape(provider)
	case kind == "costs" && provider != "":
		target = "/v1/costs?" + costParams(dl.Reason, provider)
	default:
		return nil, fmt.Errorf("dead letters of source %q cannot be re-driven through the collector", dl.Source)
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	target += sep + "k=" + url.QueryEscape(key)
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(dl.Payload)
	}
	req, err := http.NewRequestWithContext(intake.WithRedrive(ctx, dl), method, target, body)
	if err != nil {
		return nil, fmt.Errorf("building the re-drive request: %w", err)
	}
	req.RemoteAddr = "127.0.0.1:0"
	req.Header.Set("X-Write-Key", key)
	req.Header.Set("User-Agent", "throughline-redrive")
	if method == http.MethodPost {
		ct := sniffContentType(dl.Payload)
		if kind == "costs" && ct != "application/json" {
			ct = "text/csv" // cost reports that are not JSON are CSV or TSV
		}
		req.Header.Set("Content-Type", ct)
	}
	return req, nil
}

// costParams recovers a cost upload's parameters, which its dead letter
// keeps at the end of the reason ("… (format=yandex&account=spb)"); without
// them the format is the source's.
func costParams(reason, format string) string {
	if i := strings.LastIndex(reason, " ("); i >= 0 && strings.HasSuffix(reason, ")") {
		if q, err := url.ParseQuery(reason[i+2 : len(reason)-1]); err == nil && q.Get("format") != "" {
			return q.Encode()
		}
	}
	return url.Values{"format": {format}}.Encode()
}

// sniffContentType tells JSON from a form: dead letters keep the payload,
// not the headers it came with.
func sniffContentType(payload string) string {
	p := strings.TrimLeft(payload, " \t\r\n")
	if strings.HasPrefix(p, "{") || strings.HasPrefix(p, "[") {
		return "application/json"
	}
	return "application/x-www-form-urlencoded"
}

// recorder keeps the status and the start of the body of an in-process answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if room := 4096 - r.body.Len(); room > 0 {
		r.body.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}
