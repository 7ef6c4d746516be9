package collector

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/hooks/calls"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

const routeCallHooks = "/v1/hooks/calls"

// sourceCallsUnknown is the metrics and dead-letter source of deliveries to
// a provider Throughline does not know (the label set stays bounded).
const sourceCallsUnknown = "hook:unknown"

// callSources are the sources of the call-tracking webhooks.
var callSources = func() []string {
	out := []string{sourceCallsUnknown}
	for _, p := range calls.Providers {
		out = append(out, "hook:"+p)
	}
	return out
}()

// getAllowed are the providers whose notifications may be GET requests.
var getAllowed = map[string]bool{"calltouch": true, "comagic": true, "alloka": true, "callibri": true}

// callReply is the body of a call webhook's 200.
type callReply struct {
	Accepted int    `json:"accepted"`
	ID       string `json:"id,omitempty"`
	Ignored  string `json:"ignored,omitempty"`
}

// serveCallHook handles GET and POST /v1/hooks/calls/{provider}[/...]: one
// call from a call-tracking service, authenticated by the account's write
// key (?k=, X-Write-Key, or a k/<key> path segment), for a provider enabled
// in the account's call_tracking. It answers 200 once Kafka has the call;
// what cannot be accepted gets a 4xx naming the field and is dead-lettered
// with the raw delivery (without the key).
func (c *Collector) serveCallHook(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	known := calls.Known(provider)
	source := "hook:" + provider
	if !known {
		source = sourceCallsUnknown
	}
	key := intake.Key(r)
	p, ok := c.deps.Keys.Lookup(key)
	switch {
	case !ok && !known:
		c.m.Reject(source, intake.ReasonInvalid, "provider")
		intake.WriteError(w, http.StatusNotFound, unknownProvider(provider), "provider", "unknown")
		return
	case key == "":
		c.m.Reject(source, intake.ReasonMissingKey, "")
		intake.WriteError(w, http.StatusUnauthorized, "write key required: ?k=<key> in the webhook URL or X-Write-Key", "k", "required")
		return
	case !ok:
		c.m.Reject(source, intake.ReasonUnknownKey, "")
		msg := "unknown write key"
		if _, tenantKey := c.deps.Keys.LookupTenant(key); tenantKey {
			msg = "tenant keys cannot write calls: use the write key of the account the calls belong to"
		}
		intake.WriteError(w, http.StatusUnauthorized, msg, "k", "unknown")
		return
	}
	if !c.in.RequireServerKey(w, p, source) {
		return
	}
	if r.Method == http.MethodGet && !getAllowed[provider] {
		c.m.Reject(source, intake.ReasonInvalid, "method")
		w.Header().Set("Allow", "POST")
		intake.WriteError(w, http.StatusMethodNotAllowed, provider+" webhooks are POSTed", "", "")
		return
	}
	var body []byte
	if r.Method == http.MethodPost {
		b, release, ok := c.in.ReadHookBody(w, r, source)
		if !ok {
			return
		}
		defer release()
		body = b
	}
	query := withoutKey(r.URL.Query())
	token := query.Get("token")
	query.Del("token")
	h := c.in.Begin(w, r, p, source, "call webhook")
	h.Payload = hookPayload(body, query)
	now := h.Now
	if !known {
		h.Refuse(http.StatusNotFound, &event.FieldError{Field: "provider", Reason: unknownProvider(provider)}, "")
		return
	}
	tenant, account := c.findAccount(p)
	ct := callTracking(account, provider)
	if ct == nil {
		h.Refuse(http.StatusForbidden, &event.FieldError{Field: "provider", Reason: fmt.Sprintf(
			"%s is not enabled for account %s: add it to the account's call_tracking in the tenants file", provider, p.Account)}, "")
		return
	}
	if intake.IsRedrive(r.Context()) && (provider == "alloka" || provider == "callibri") {
		token = ct.Secret // a re-drive is the operator's, and dead letters keep no token
	}
	req := calls.Request{Method: r.Method, ContentType: r.Header.Get("Content-Type"), Query: query, Body: body,
		Path: withoutPathKey(r.PathValue("rest")), Token: token}
	settings := calls.Settings{Secret: ct.Secret, Region: tenant.Region(account), Location: accountLocation(tenant, account), Now: now}
	if !intake.IsRedrive(r.Context()) {
		settings.ReplayWindow = c.cfg.ReplayWindow // an operator re-drives on purpose
	}
	call, err := calls.Parse(provider, req, settings)
	var ignored *calls.Ignored
	switch {
	case errors.As(err, &ignored):
		c.log.Debug().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
			Str("reason", ignored.Reason).Msg("call webhook ignored")
		intake.WriteJSON(w, http.StatusOK, callReply{Ignored: ignored.Reason})
		return
	case errors.Is(err, calls.ErrSignature):
		h.Refuse(http.StatusForbidden, &event.FieldError{Field: "sign", Reason: err.Error()}, intake.ReasonPrefixUnauthenticated)
		return
	case errors.Is(err, calls.ErrReplay):
		h.Refuse(http.StatusForbidden, &event.FieldError{Field: "json", Reason: err.Error()}, "")
		return
	case err != nil:
		h.Refuse(http.StatusBadRequest, intake.AsFieldError("body", err), "")
		return
	}
	if call.Account != "" && call.Account != p.Account {
		h.Refuse(http.StatusForbidden, &event.FieldError{Field: "account", Reason: fmt.Sprintf(
			"the payload names account %q; this key writes for %q only", call.Account, p.Account)}, "")
		return
	}
	env := calls.Envelope(call, calls.Meta{Tenant: p.Tenant, Account: p.Account, Provider: provider,
		ReceivedAt: now, Static: ct.StaticNumbers})
	if h.Publish([]event.Envelope{env}, "call", "call not acknowledged by kafka, retry later") {
		intake.WriteJSON(w, http.StatusOK, callReply{Accepted: 1, ID: env.ID})
	}
}

func unknownProvider(p string) string {
	if len(p) > 40 {
		p = p[:40]
	}
	return fmt.Sprintf("unknown call-tracking provider %q: use %s", p, strings.Join(calls.Providers, ", "))
}

// callTracking is the account's configuration of provider, or nil.
func callTracking(a *tenants.Account, provider string) *tenants.CallTracking {
	if a == nil {
		return nil
	}
	for i := range a.CallTracking {
		if a.CallTracking[i].Provider == provider {
			return &a.CallTracking[i]
		}
	}
	return nil
}

// accountLocation is the time zone vendors' wall-clock times are read in:
// the account's, else the tenant's, else UTC.
func accountLocation(t *tenants.Tenant, a *tenants.Account) *time.Location {
	for _, tz := range []string{accountTZ(a), tenantTZ(t)} {
		if tz == "" {
			continue
		}
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc
		}
	}
	return time.UTC
}

func accountTZ(a *tenants.Account) string {
	if a == nil {
		return ""
	}
	return a.Timezone
}

func tenantTZ(t *tenants.Tenant) string {
	if t == nil {
		return ""
	}
	return t.Timezone
}

// withoutKey is the URL's parameters without the write key.
func withoutKey(q url.Values) url.Values {
	q.Del("k")
	return q
}

// withoutPathKey drops a "k/<key>" segment from what followed the provider.
func withoutPathKey(rest string) string {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	out := parts[:0]
	for i := 0; i < len(parts); i++ {
		if parts[i] == "k" && i+1 < len(parts) {
			i++
			continue
		}
		out = append(out, parts[i])
	}
	return strings.Join(out, "/")
}

// hookPayload is what a dead letter keeps of a delivery: the body, with the
// URL's other parameters appended to a form body (or standing alone for a
// GET), so a re-drive POSTing it sends the vendor's fields again. The write
// key is never part of it.
func hookPayload(body []byte, query url.Values) []byte {
	q := query.Encode()
	trimmed := strings.TrimSpace(string(body))
	switch {
	case q == "":
		return body
	case trimmed == "":
		return []byte(q)
	case strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "["):
		return body
	}
	return []byte(trimmed + "&" + q)
}
