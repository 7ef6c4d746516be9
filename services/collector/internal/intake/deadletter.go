package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

// maxDeadLetterPayload bounds the raw payload kept in a dead letter so that
// the record, JSON-escaped, stays under Kafka's default 1 MiB message size.
const maxDeadLetterPayload = 128 << 10

// EncodeJSON encodes without HTML escaping: URLs keep their '&' readable for
// anyone reading the topic with kcat.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// deadLetterAllowed spends a token of the account's dead-letter rate limit
// (Config.DeadLetterRate): a sender flooding bad input — with the public
// site key, say — fills the dead-letter topic no faster than that. Over the
// limit the dead letter is counted (outcome rate_limited), not written; the
// sender still gets its 4xx. Buckets are per configured account (the
// principal is authenticated), so their number is bounded.
func (pl *Pipeline) deadLetterAllowed(p tenants.Principal, source string) bool {
	if pl.cfg.DeadLetterRate.PerSecond <= 0 {
		return true
	}
	ok, _ := pl.dlqLimit.Allow(p.Tenant+"/"+p.Account, pl.cfg.DeadLetterRate, time.Now())
	if !ok {
		pl.M.DeadLetter(source, dlqRateLimited)
		pl.deps.Warn.Warn().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
			Msg("dead letter not written: over the account's dead-letter rate limit")
	}
	return ok
}

// DeadLetter records what could not be accepted, with the reason. With wait,
// it returns once Kafka answered (or the publish timeout passed); without, it
// only starts the write. Either way it never takes more than the in-flight
// budget allows: with no capacity left the dead letter is counted as dropped.
// The payload must already be free of write keys.
func (pl *Pipeline) DeadLetter(ctx context.Context, p tenants.Principal, source, reason string, payload []byte, now time.Time, wait bool) {
	if !pl.deadLetterAllowed(p, source) {
		return
	}
	reason, payload = pl.deps.Scrub(p, reason, payload)
	if len(payload) > maxDeadLetterPayload {
		reason = fmt.Sprintf("%s (payload truncated to its first %d of %d bytes)", reason, maxDeadLetterPayload, len(payload))
		payload = payload[:maxDeadLetterPayload]
	}
	v, err := EncodeJSON(&event.DeadLetter{
		V: event.Version, Tenant: p.Tenant, Account: p.Account, Source: source,
		Reason: reason, ReceivedAt: now.UnixMilli(), Payload: string(payload),
	})
	if err != nil {
		pl.deps.Log.Error().Err(err).Msg("encoding dead letter failed")
		pl.M.DeadLetter(source, dlqFailed)
		return
	}
	rec := &kgo.Record{Topic: kafka.TopicDeadLetter, Value: v}
	if p.Tenant != "" {
		rec.Key = []byte(p.Tenant + "/" + p.Account)
	}
	done := func(err error) {
		if err != nil {
			pl.M.DeadLetter(source, dlqFailed)
			pl.deps.Warn.Warn().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).
				Str("topic", kafka.TopicDeadLetter).Msg("dead letter not written")
			return
		}
		pl.M.DeadLetter(source, dlqPublished)
	}
	pd, err := pl.deps.Pub.Start(ctx, []*kgo.Record{rec}, done)
	if errors.Is(err, publish.ErrOverloaded) {
		pl.M.DeadLetter(source, dlqDropped)
		pl.deps.Warn.Warn().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
			Msg("dead letter dropped: collector at capacity")
		return
	}
	if err != nil {
		done(err)
		return
	}
	if wait {
		pd.Wait(ctx) // the outcome is counted by done; the caller's answer does not depend on it
	}
}
