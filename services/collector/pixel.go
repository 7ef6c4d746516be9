package collector

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/collector/internal/ingest"
	"github.com/throughline/throughline/services/collector/internal/publish"
)

// servePixel handles GET /px.gif. Whatever happens the browser gets the GIF:
// a pixel has no one to read an error. What is not accepted is counted by
// reason and, where the account is known, dead-lettered with the field at
// fault and the query string stripped of its write key.
func (c *Collector) servePixel(w http.ResponseWriter, r *http.Request) {
	defer writeGIF(w)
	if r.Method == http.MethodHead {
		return // link checkers and prefetchers: not a hit
	}
	now := time.Now()
	// A browser leaving the page cancels the request; the hit is still
	// written and counted. The wait stays bounded by the publish timeout.
	ctx := context.WithoutCancel(r.Context())
	raw := r.URL.RawQuery
	q, _ := url.ParseQuery(raw)
	key := q.Get(ingest.ParamKey)
	if key == "" {
		c.m.reject(sourcePixel, reasonMissingKey, "k")
		return
	}
	p, ok := c.deps.Keys.Lookup(key)
	if !ok {
		c.m.reject(sourcePixel, reasonUnknownKey, "k") // no tenant to dead-letter to
		return
	}
	meta := ingest.Meta{
		Principal: p, Now: now, UserAgent: r.UserAgent(), IP: c.ips.ClientIP(r), Referer: r.Referer(),
		PhoneRegion: c.phoneRegion(p),
	}
	env, err := ingest.PixelQuery(q, meta)
	if err != nil {
		fe := ingest.AsFieldError("query", err)
		c.m.reject(sourcePixel, reasonInvalid, fe.Field)
		c.log.Debug().Str("tenant", p.Tenant).Str("account", p.Account).Str("field", fe.Field).
			Str("reason", fe.Reason).Msg("pixel hit rejected")
		c.deadLetter(ctx, p, sourcePixel, fe.Error(), []byte(ingest.StripKey(raw)), now, true)
		return
	}
	envs, keys, _ := c.fresh([]event.Envelope{env}, sourcePixel, now)
	if len(envs) == 0 {
		return // a repeat of a hit published within the window (eid)
	}
	recs, err := c.envelopeRecords(envs)
	if err != nil {
		c.m.reject(sourcePixel, reasonInternal, "")
		c.log.Error().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Msg("pixel hit not encoded")
		return
	}
	err = c.pub.Publish(ctx, recs)
	switch {
	case err == nil:
		c.remember(keys, now)
		c.m.accept(sourcePixel, 1)
	case errors.Is(err, publish.ErrOverloaded):
		c.m.reject(sourcePixel, reasonOverload, "")
		// Keep the hit if there is room for it in the dead-letter topic, so it
		// can be re-driven; do not wait on a Kafka that is already behind.
		c.deadLetter(ctx, p, sourcePixel, "overload: collector at capacity",
			[]byte(ingest.StripKey(raw)), now, false)
	default:
		// Kafka refused the hit or did not answer in time. The browser cannot
		// retry, so the hit goes to the dead-letter topic to be re-driven (a
		// separate write: Kafka may take it there even if the raw write
		// failed); if that fails too, the dead-letter counter says so.
		c.m.reject(sourcePixel, reasonKafka, "")
		c.warn.Warn().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Msg("pixel hit not published")
		c.deadLetter(ctx, p, sourcePixel, "kafka: "+err.Error(), []byte(ingest.StripKey(raw)), now, false)
	}
}
