package intake

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Request is one authenticated request of a route: what its refusals, dead
// letters and publishing need. Routes make one with Begin or Server.
type Request struct {
	pl *Pipeline
	// Ctx outlives the sender: once read, a delivery is written and counted
	// even if the sender hangs up (the wait stays bounded by the publish
	// timeout).
	Ctx    context.Context
	W      http.ResponseWriter
	P      tenants.Principal
	Source string
	Now    time.Time
	// What names the request in logs ("call webhook", "crm webhook").
	What string
	// Payload is what a dead letter keeps of the delivery (free of keys).
	Payload []byte
	// Params, when set, follow every dead-letter reason in parentheses (a
	// cost upload's parameters: re-drive sends them again).
	Params string
	// Redriven: a dead letter re-submitted by the re-drive endpoint.
	Redriven bool
}

// Begin starts handling r for principal p.
func (pl *Pipeline) Begin(w http.ResponseWriter, r *http.Request, p tenants.Principal, source, what string) *Request {
	return &Request{pl: pl, Ctx: context.WithoutCancel(r.Context()), W: w, P: p, Source: source, Now: time.Now(),
		What: what, Redriven: IsRedrive(r.Context())}
}

// Server authenticates a webhook by an account's server key in ?k= or
// X-Write-Key and reads its body (ReadHookBody): the first steps of the
// chat and CRM webhooks. It answers refusals itself and returns false;
// release gives the body's memory back.
func (pl *Pipeline) Server(w http.ResponseWriter, r *http.Request, source, what string) (q *Request, release func(), ok bool) {
	key := strings.TrimSpace(r.URL.Query().Get("k"))
	if key == "" {
		key = WriteKey(r)
	}
	if key == "" {
		pl.M.Reject(source, ReasonMissingKey, "")
		WriteError(w, http.StatusUnauthorized, "write key required: ?k=<key> in the webhook URL or X-Write-Key", "k", "required")
		return nil, nil, false
	}
	p, found := pl.deps.Keys.Lookup(key)
	if !found {
		pl.M.Reject(source, ReasonUnknownKey, "")
		WriteError(w, http.StatusUnauthorized, "unknown write key", "k", "unknown")
		return nil, nil, false
	}
	if !pl.RequireServerKey(w, p, source) {
		return nil, nil, false
	}
	body, release, ok := pl.ReadHookBody(w, r, source)
	if !ok {
		return nil, nil, false
	}
	q = pl.Begin(w, r, p, source, what)
	q.Payload = body
	return q, release, true
}

// RequireServerKey refuses a site key on a route that makes leads or
// revenue (calls, CRM, chats, costs): a site key is public — it is in every
// page of the branch's site — so anyone could forge deals with it. It
// answers 403 itself and reports whether the request may go on.
func (pl *Pipeline) RequireServerKey(w http.ResponseWriter, p tenants.Principal, source string) bool {
	if p.Server {
		return true
	}
	pl.M.Reject(source, ReasonSiteKey, "k")
	pl.deps.Warn.Warn().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
		Msg("site key refused on a server route")
	WriteError(w, http.StatusForbidden,
		"this is the account's site key, which is public; calls, CRM, chats and costs need its server key (server_keys in the tenants file)", "k", "site key")
	return false
}

// Refuse answers status naming the field at fault, and dead-letters the
// payload; prefix marks reasons re-drive must skip (ReasonPrefixUnauthenticated).
func (q *Request) Refuse(status int, fe *event.FieldError, prefix string) {
	q.pl.M.Reject(q.Source, ReasonInvalid, fe.Field)
	q.pl.deps.Log.Debug().Str("tenant", q.P.Tenant).Str("account", q.P.Account).Str("source", q.Source).
		Str("field", fe.Field).Str("reason", q.pl.deps.Clean(q.P, fe.Reason)).Msg(q.What + " refused")
	q.DeadLetter(prefix + fe.Error())
	WriteError(q.W, status, fe.Error(), fe.Field, fe.Reason)
}

// DeadLetter records the payload with reason and waits for Kafka's answer.
func (q *Request) DeadLetter(reason string) {
	if q.Params != "" {
		reason += " (" + q.Params + ")"
	}
	q.pl.DeadLetter(q.Ctx, q.P, q.Source, reason, q.Payload, q.Now, true)
}

// Records encodes envelopes as raw-topic records; on failure it answers 500
// itself (noun names them in the log) and returns false.
func (q *Request) Records(envs []event.Envelope, noun string) ([]*kgo.Record, bool) {
	recs, err := q.pl.deps.Encode(envs)
	if err != nil {
		q.pl.M.Reject(q.Source, ReasonInternal, "")
		q.pl.deps.Log.Error().Err(err).Str("tenant", q.P.Tenant).Str("account", q.P.Account).Msg(noun + " not encoded")
		WriteError(q.W, http.StatusInternalServerError, "internal error", "", "")
		return nil, false
	}
	return recs, true
}

// Send publishes recs and waits for Kafka. A failure is counted (overload
// or Kafka unavailable) and logged — noun names the records — and
// returned: the answer is the caller's.
func (q *Request) Send(recs []*kgo.Record, noun string) error {
	err := q.pl.deps.Pub.Publish(q.Ctx, recs)
	switch {
	case err == nil:
	case errors.Is(err, publish.ErrOverloaded):
		q.pl.M.Reject(q.Source, ReasonOverload, "")
	default:
		q.pl.M.Reject(q.Source, ReasonKafka, "")
		q.pl.deps.Warn.Warn().Err(err).Str("tenant", q.P.Tenant).Str("account", q.P.Account).Str("source", q.Source).
			Str("topic", recs[0].Topic).Int("records", len(recs)).Msg(noun + " not published")
	}
	return err
}

// PublishRecords publishes recs (Send). Acknowledged, it counts them
// accepted and returns true: the caller answers. Otherwise it answers 503
// itself: unacked when Kafka did not take them.
func (q *Request) PublishRecords(recs []*kgo.Record, noun, unacked string) bool {
	err := q.Send(recs, noun)
	switch {
	case err == nil:
		q.pl.M.Accept(q.Source, len(recs))
		return true
	case errors.Is(err, publish.ErrOverloaded):
		q.pl.Unavailable(q.W, "collector at capacity, retry later")
	default:
		q.pl.Unavailable(q.W, unacked)
	}
	return false
}

// Publish validates, encodes and publishes envs (each step's failure
// answered as Refuse, Records and PublishRecords do); true when Kafka
// acknowledged them all and the caller is to answer.
func (q *Request) Publish(envs []event.Envelope, noun, unacked string) bool {
	for i := range envs {
		if err := envs[i].Validate(); err != nil {
			q.Refuse(http.StatusBadRequest, AsFieldError("body", err), "")
			return false
		}
	}
	recs, ok := q.Records(envs, noun)
	return ok && q.PublishRecords(recs, noun, unacked)
}

// AsFieldError presents any error as a field error, of field when it names
// none.
func AsFieldError(field string, err error) *event.FieldError {
	var fe *event.FieldError
	if errors.As(err, &fe) {
		return fe
	}
	return &event.FieldError{Field: field, Reason: err.Error()}
}
