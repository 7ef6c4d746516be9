package collector

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/hooks/chats"
	"github.com/throughline/throughline/services/collector/internal/intake"
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

// chatSource is the metrics source of a chat webhook request.
func chatSource(r *http.Request) string {
	if p := r.PathValue("provider"); chats.Known(p) {
		return "chat:" + p
	}
	return "chat:unknown"
}

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
		c.m.Reject("chat:unknown", intake.ReasonInvalid, "provider")
		intake.WriteError(w, http.StatusNotFound, fmt.Sprintf("unknown chat provider: use %s", strings.Join(chats.Providers, ", ")),
			"provider", "unknown")
		return
	}
	q, release, ok := c.in.Server(w, r, "chat:"+provider, "chat webhook")
	if !ok {
		return
	}
	defer release()
	tenant, account := c.findAccount(q.P)
	cw := chatWidget(account, provider)
	if cw == nil {
		q.Refuse(http.StatusForbidden, &event.FieldError{Field: "provider", Reason: fmt.Sprintf(
			"%s is not enabled for account %s: add it to the account's chats in the tenants file", provider, q.P.Account)}, "")
		return
	}
	if cw.Token != "" && !q.Redriven &&
		subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("token")), []byte(cw.Token)) != 1 {
		q.Refuse(http.StatusForbidden, &event.FieldError{Field: "token", Reason: "missing or wrong: put ?token=<the account's chat token> in the webhook URL"},
			intake.ReasonPrefixUnauthenticated)
		return
	}
	chat, err := chats.Parse(provider, q.Payload, tenant.Region(account), q.Now)
	if ig, ok := chats.IsIgnored(err); ok {
		c.log.Debug().Str("tenant", q.P.Tenant).Str("account", q.P.Account).Str("source", q.Source).
			Str("reason", ig.Reason).Msg("chat webhook ignored")
		intake.WriteJSON(w, http.StatusOK, chatReply{Result: "ok", Ignored: ig.Reason})
		return
	}
	if err != nil {
		q.Refuse(http.StatusBadRequest, intake.AsFieldError("body", err), "")
		return
	}
	env := chats.Envelope(chat, chats.Meta{Tenant: q.P.Tenant, Account: q.P.Account, Provider: provider, ReceivedAt: q.Now})
	if q.Publish([]event.Envelope{env}, "chat", "chat not acknowledged by kafka, retry later") {
		intake.WriteJSON(w, http.StatusOK, chatReply{Result: "ok", Accepted: 1, ID: env.ID})
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
