package collector

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/throughline/throughline/services/collector/internal/ingest"
	"github.com/throughline/throughline/services/collector/internal/publish"
)

// serveEvents handles POST /v1/events: a JSON array or NDJSON of events,
// authorised by a write key. It is all or nothing: one invalid event fails the
// request with 400 naming it, and the batch is dead-lettered; 202 means Kafka
// acknowledged every event. Events whose ids were published within the
// window are left out and counted as duplicates in the answer (dedup.go).
func (c *Collector) serveEvents(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	now := time.Now()
	// Once read, a batch is written and counted even if the sender hangs up;
	// the wait stays bounded by the publish timeout.
	ctx := context.WithoutCancel(r.Context())
	key := writeKey(r)
	if key == "" {
		c.m.reject(sourceAPI, reasonMissingKey, "")
		w.Header().Set("WWW-Authenticate", `Bearer realm="throughline"`)
		writeError(w, http.StatusUnauthorized, "write key required: Authorization: Bearer <key> or X-Write-Key: <key>", "", "")
		return
	}
	p, ok := c.deps.Keys.Lookup(key)
	if !ok {
		c.m.reject(sourceAPI, reasonUnknownKey, "")
		w.Header().Set("WWW-Authenticate", `Bearer realm="throughline", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unknown write key", "", "")
		return
	}
	if !c.ids.ready.Load() {
		// Until the ids published before this start are read back, a retry
		// could not be told from a new batch.
		c.m.reject(sourceAPI, reasonRestoring, "")
		c.writeUnavailable(w, "collector starting: restoring recent event ids, retry later")
		return
	}
	body, release, ok := c.readBody(w, r, sourceAPI, int64(c.cfg.MaxBodyBytes))
	if !ok {
		return
	}
	defer release()
	meta := ingest.Meta{Principal: p, Now: now, UserAgent: r.UserAgent(), IP: c.ips.ClientIP(r)}
	envs, err := ingest.Batch(body, meta, c.cfg.MaxBatchEvents)
	if err != nil {
		fe := ingest.AsFieldError("body", err)
		c.m.reject(sourceAPI, reasonInvalid, fe.Field)
		c.log.Debug().Str("tenant", p.Tenant).Str("account", p.Account).Str("field", fe.Field).
			Str("reason", fe.Reason).Msg("event batch rejected")
		c.deadLetter(ctx, p, sourceAPI, fe.Error(), body, now, true)
		writeError(w, http.StatusBadRequest, fe.Error(), fe.Field, fe.Reason)
		return
	}
	envs, keys, dups := c.fresh(envs, sourceAPI, now)
	recs, err := envelopeRecords(envs)
	if err != nil {
		c.m.reject(sourceAPI, reasonInternal, "")
		c.log.Error().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Msg("event batch not encoded")
		writeError(w, http.StatusInternalServerError, "internal error", "", "")
		return
	}
	release() // the body is parsed; from here the records hold the budget
	if len(recs) == 0 {
		writeJSON(w, http.StatusAccepted, dedupReply{Duplicates: dups})
		return
	}
	err = c.pub.Publish(ctx, recs)
	switch {
	case err == nil:
		c.remember(keys, now)
		c.m.accept(sourceAPI, len(recs))
		writeJSON(w, http.StatusAccepted, dedupReply{Accepted: len(recs), Duplicates: dups})
	case errors.Is(err, publish.ErrOverloaded):
		c.m.reject(sourceAPI, reasonOverload, "")
		c.writeUnavailable(w, "collector at capacity, retry later")
	default:
		c.m.reject(sourceAPI, reasonKafka, "")
		c.warn.Warn().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Int("events", len(recs)).
			Msg("event batch not published")
		c.writeUnavailable(w, "events not acknowledged by kafka, retry later with the same ids")
	}
}
