package collector

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

// Sources written into envelopes and dead letters.
const (
	sourcePixel = "pixel"
	sourceAPI   = "api"
)

// maxDeadLetterPayload bounds the raw payload kept in a dead letter so that
// the record, JSON-escaped, stays under Kafka's default 1 MiB message size.
const maxDeadLetterPayload = 128 << 10

// encodeJSON encodes without HTML escaping: URLs keep their '&' readable for
// anyone reading the topic with kcat.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// envelopeRecords encodes envelopes as raw-topic records keyed by account,
// their phones and e-mails hashed with the tenant's salt.
func (c *Collector) envelopeRecords(envs []event.Envelope) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, len(envs))
	for i := range envs {
		v, err := encodeJSON(c.hashed(&envs[i]))
		if err != nil {
			return nil, fmt.Errorf("encoding envelope: %w", err)
		}
		recs[i] = &kgo.Record{Topic: kafka.TopicRaw, Key: envs[i].Key(), Value: v}
	}
	return recs, nil
}

// deadLetterAllowed spends a token of the account's dead-letter rate limit
// (Config.DeadLetterRate): a sender flooding bad input — with the public
// site key, say — fills the dead-letter topic no faster than that. Over the
// limit the dead letter is counted (outcome rate_limited), not written; the
// sender still gets its 4xx. Buckets are per configured account (the
// principal is authenticated), so their number is bounded.
func (c *Collector) deadLetterAllowed(p tenants.Principal, source string) bool {
	if c.cfg.DeadLetterRate.PerSecond <= 0 {
		return true
	}
	ok, _ := c.dlqLimit.Allow(p.Tenant+"/"+p.Account, c.cfg.DeadLetterRate, time.Now())
	if !ok {
		c.m.deadLetter(source, dlqRateLimited)
		c.warn.Warn().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
			Msg("dead letter not written: over the account's dead-letter rate limit")
	}
	return ok
}

// deadLetter records what could not be accepted, with the reason. With wait,
// it returns once Kafka answered (or the publish timeout passed); without, it
// only starts the write. Either way it never takes more than the in-flight
// budget allows: with no capacity left the dead letter is counted as dropped.
// The payload must already be free of write keys.
func (c *Collector) deadLetter(ctx context.Context, p tenants.Principal, source, reason string, payload []byte, now time.Time, wait bool) {
	if !c.deadLetterAllowed(p, source) {
		return
	}
	reason, payload = c.scrubbed(p, reason, payload)
	if len(payload) > maxDeadLetterPayload {
		reason = fmt.Sprintf("%s (payload truncated to its first %d of %d bytes)", reason, maxDeadLetterPayload, len(payload))
		payload = payload[:maxDeadLetterPayload]
	}
	v, err := encodeJSON(&event.DeadLetter{
		V: event.Version, Tenant: p.Tenant, Account: p.Account, Source: source,
		Reason: reason, ReceivedAt: now.UnixMilli(), Payload: string(payload),
	})
	if err != nil {
		c.log.Error().Err(err).Msg("encoding dead letter failed")
		c.m.deadLetter(source, dlqFailed)
		return
	}
	rec := &kgo.Record{Topic: kafka.TopicDeadLetter, Value: v}
	if p.Tenant != "" {
		rec.Key = []byte(p.Tenant + "/" + p.Account)
	}
	done := func(err error) {
		if err != nil {
			c.m.deadLetter(source, dlqFailed)
			c.warn.Warn().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).
				Str("topic", kafka.TopicDeadLetter).Msg("dead letter not written")
			return
		}
		c.m.deadLetter(source, dlqPublished)
	}
	pd, err := c.pub.Start(ctx, []*kgo.Record{rec}, done)
	if errors.Is(err, publish.ErrOverloaded) {
		c.m.deadLetter(source, dlqDropped)
		c.warn.Warn().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).
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
