package collector

import (
	"net/http"

	"github.com/throughline/throughline/services/collector/internal/ingest"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

// routeEvents labels the events API in the requests counter.
const routeEvents = "/v1/events"

// serveEvents handles POST /v1/events: a JSON array or NDJSON of events,
// authorised by a write key. It is all or nothing: one invalid event fails the
// request with 400 naming it, and the batch is dead-lettered; 202 means Kafka
// acknowledged every event. Events whose ids were published within the
// window are left out and counted as duplicates in the answer (dedup.go).
func (c *Collector) serveEvents(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	key := intake.WriteKey(r)
	if key == "" {
		c.m.Reject(intake.SourceAPI, intake.ReasonMissingKey, "")
		w.Header().Set("WWW-Authenticate", `Bearer realm="throughline"`)
		intake.WriteError(w, http.StatusUnauthorized, "write key required: Authorization: Bearer <key> or X-Write-Key: <key>", "", "")
		return
	}
	p, ok := c.deps.Keys.Lookup(key)
	if !ok {
		c.m.Reject(intake.SourceAPI, intake.ReasonUnknownKey, "")
		w.Header().Set("WWW-Authenticate", `Bearer realm="throughline", error="invalid_token"`)
		intake.WriteError(w, http.StatusUnauthorized, "unknown write key", "", "")
		return
	}
	if !c.ids.ready.Load() {
		// Until the ids published before this start are read back, a retry
		// could not be told from a new batch.
		c.m.Reject(intake.SourceAPI, intake.ReasonRestoring, "")
		c.in.Unavailable(w, "collector starting: restoring recent event ids, retry later")
		return
	}
	q := c.in.Begin(w, r, p, intake.SourceAPI, "event batch")
	body, release, ok := c.in.ReadBody(w, r, intake.SourceAPI, int64(c.cfg.MaxBodyBytes))
	if !ok {
		return
	}
	defer release()
	q.Payload = body
	meta := ingest.Meta{Principal: p, Now: q.Now, UserAgent: r.UserAgent(), IP: c.ips.ClientIP(r), PhoneRegion: c.phoneRegion(p)}
	envs, err := ingest.Batch(body, meta, c.cfg.MaxBatchEvents)
	if err != nil {
		q.Refuse(http.StatusBadRequest, ingest.AsFieldError("body", err), "")
		return
	}
	envs, keys, dups := c.fresh(envs, intake.SourceAPI, q.Now)
	recs, ok := q.Records(envs, "event batch")
	if !ok {
		return
	}
	release() // the body is parsed; from here the records hold the budget
	if len(recs) == 0 {
		intake.WriteJSON(w, http.StatusAccepted, dedupReply{Duplicates: dups})
		return
	}
	if q.PublishRecords(recs, "event batch", "events not acknowledged by kafka, retry later with the same ids") {
		c.remember(keys, q.Now)
		intake.WriteJSON(w, http.StatusAccepted, dedupReply{Accepted: len(recs), Duplicates: dups})
	}
}
