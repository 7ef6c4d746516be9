package collector

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/hooks/chats"
	"github.com/throughline/throughline/services/collector/internal/publish"
)

const routeChatHooks = "/v1/hooks/chats"

// chatSources are the metric and dead-letter sources of the chat webhooks.
var chatSources = func() []string {
	out := []string{"chat:unknown"}
	for _, p := range chats.Providers {
		out = append(out, "chat:"+p)
	}
	return out
}()

// chatReply is the body of a chat webhook's 200. Jivo reads "result": "ok"
// as success; the other fields are for people and the generic format.
type chatReply struct {
	Result   string `json:"result"`
	Accepted int    `json:"accepted"`
	ID       string `json:"id,omitempty"`
	Ignored  string `json:"ignored,omitempty"`
}

// serveChatHook handles POST /v1/hooks/chats/{provider}: one event of a
// chat widget, authenticated by the account's server key (?k= or
// X-Write-Key) and, when the account's chats entry sets a token, by
// ?token=. It answers 200 once Kafka has the chat; what cannot be accepted
// gets a 4xx naming the field and is dead-lettered (without key or token).
func (c *Collector) serveChatHook(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	if !chats.Known(provider) {
		c.m.reject("chat:unknown", reasonInvalid, "provider")
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown chat provider: use %s", strings.Join(chats.Providers, ", ")),
			"provider", "unknown")
		return
	}
	source := "chat:" + provider
	now := time.Now()
	ctx := context.WithoutCancel(r.Context())
	p, ok := c.crmPrincipal(w, r, source)
	if !ok {
		return
	}
	body, release, ok := c.readHookBody(w, r, source)
	if !ok {
		return
	}
	defer release()
	h := callHook{c: c, ctx: ctx, w: w, p: p, source: source, now: now, payload: body}
	tenant, account := c.findAccount(p)
	cw := chatWidget(account, provider)
	if cw == nil {
		h.refuse(http.StatusForbidden, &event.FieldError{Field: "provider", Reason: fmt.Sprintf(
			"%s is not enabled for account %s: add it to the account's chats in the tenants file", provider, p.Account)}, "")
		return
	}
	if cw.Token != "" && !isRedrive(r.Context()) &&
		subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("token")), []byte(cw.Token)) != 1 {
		h.refuse(http.StatusForbidden, &event.FieldError{Field: "token", Reason: "missing or wrong: put ?token=<the account's chat token> in the webhook URL"},
			reasonPrefixUnauthenticated)
		return
	}
	chat, err := chats.Parse(provider, body, tenant.Region(account), now)
	if ig, ok := chats.IsIgnored(err); ok {
		c.log.Debug().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
			Str("reason", ig.Reason).Msg("chat webhook ignored")
		writeJSON(w, http.StatusOK, chatReply{Result: "ok", Ignored: ig.Reason})
		return
	}
	if err != nil {
		h.refuse(http.StatusBadRequest, fieldErrorOf(err), "")
		return
	}
	env := chats.Envelope(chat, chats.Meta{Tenant: p.Tenant, Account: p.Account, Provider: provider, ReceivedAt: now})
	if err := env.Validate(); err != nil {
		h.refuse(http.StatusBadRequest, fieldErrorOf(err), "")
		return
	}
	recs, err := c.envelopeRecords([]event.Envelope{env})
	if err != nil {
		c.m.reject(source, reasonInternal, "")
		c.log.Error().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Msg("chat not encoded")
		writeError(w, http.StatusInternalServerError, "internal error", "", "")
		return
	}
	err = c.pub.Publish(ctx, recs)
	switch {
	case err == nil:
		c.m.accept(source, 1)
		writeJSON(w, http.StatusOK, chatReply{Result: "ok", Accepted: 1, ID: env.ID})
	case errors.Is(err, publish.ErrOverloaded):
		c.m.reject(source, reasonOverload, "")
		c.writeUnavailable(w, "collector at capacity, retry later")
	default:
		c.m.reject(source, reasonKafka, "")
		c.warn.Warn().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
			Msg("chat not published")
		c.writeUnavailable(w, "chat not acknowledged by kafka, retry later")
	}
}

// chatWidget is the account's configuration of provider, or nil.
func chatWidget(a *tenants.Account, provider string) *tenants.ChatWidget {
	if a == nil {
		return nil
	}
	for i := range a.Chats {
		if a.Chats[i].Provider == provider {
			return &a.Chats[i]
		}
	}
	return nil
}
