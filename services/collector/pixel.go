package collector

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/collector/internal/ingest"
	"github.com/throughline/throughline/services/collector/internal/intake"
	"github.com/throughline/throughline/services/collector/internal/publish"
)

// routePixel labels the pixel in the requests counter.
const routePixel = "/px.gif"

// servePixel handles GET /px.gif. Whatever happens the browser gets the GIF:
// a pixel has no one to read an error. What is not accepted is counted by
// reason and, where the account is known, dead-lettered with the field at
// fault and the query string stripped of its write key.
func (c *Collector) servePixel(w http.ResponseWriter, r *http.Request) {
	defer intake.WriteGIF(w)
	if r.Method == http.MethodHead {
		return // link checkers and prefetchers: not a hit
	}
	raw := r.URL.RawQuery
	query, _ := url.ParseQuery(raw)
	key := query.Get(ingest.ParamKey)
	if key == "" {
		c.m.Reject(intake.SourcePixel, intake.ReasonMissingKey, "k")
		return
	}
	p, ok := c.deps.Keys.Lookup(key)
	if !ok {
		c.m.Reject(intake.SourcePixel, intake.ReasonUnknownKey, "k") // no tenant to dead-letter to
		return
	}
	// A browser leaving the page cancels the request; the hit is still
	// written and counted (Request.Ctx).
	q := c.in.Begin(w, r, p, intake.SourcePixel, "pixel hit")
	q.Payload = []byte(ingest.StripKey(raw))
	meta := ingest.Meta{
		Principal: p, Now: q.Now, UserAgent: r.UserAgent(), IP: c.ips.ClientIP(r), Referer: r.Referer(),
		PhoneRegion: c.phoneRegion(p),
	}
	env, err := ingest.PixelQuery(query, meta)
	if err != nil {
		fe := ingest.AsFieldError("query", err)
		c.m.Reject(intake.SourcePixel, intake.ReasonInvalid, fe.Field)
		c.log.Debug().Str("tenant", p.Tenant).Str("account", p.Account).Str("field", fe.Field).
			Str("reason", fe.Reason).Msg("pixel hit rejected")
		q.DeadLetter(fe.Error())
		return
	}
	envs, keys, _ := c.fresh([]event.Envelope{env}, intake.SourcePixel, q.Now)
	if len(envs) == 0 {
		return // a repeat of a hit published within the window (eid)
	}
	recs, err := c.envelopeRecords(envs)
	if err != nil {
		c.m.Reject(intake.SourcePixel, intake.ReasonInternal, "")
		c.log.Error().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Msg("pixel hit not encoded")
		return
	}
	err = q.Send(recs, "pixel hit")
	switch {
	case err == nil:
		c.remember(keys, q.Now)
		c.m.Accept(intake.SourcePixel, 1)
	case errors.Is(err, publish.ErrOverloaded):
		// Keep the hit if there is room for it in the dead-letter topic, so it
		// can be re-driven; do not wait on a Kafka that is already behind.
		c.in.DeadLetter(q.Ctx, p, intake.SourcePixel, "overload: collector at capacity", q.Payload, q.Now, false)
	default:
		// Kafka refused the hit or did not answer in time. The browser cannot
		// retry, so the hit goes to the dead-letter topic to be re-driven (a
		// separate write: Kafka may take it there even if the raw write
		// failed); if that fails too, the dead-letter counter says so.
		c.in.DeadLetter(q.Ctx, p, intake.SourcePixel, "kafka: "+err.Error(), q.Payload, q.Now, false)
	}
}
