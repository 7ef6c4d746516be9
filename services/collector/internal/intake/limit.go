package intake

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/ratelimit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// limits applies each tenant's per-key rate limit (tenants.Tenant.RateLimit)
// to every authenticated request, before its handler runs.
type limits struct {
	keys    *tenants.Keys
	byTen   map[string]ratelimit.Limit
	bucket  *ratelimit.Limiter
	limited metric.Int64Counter
}

func newLimits(deps Deps, m metric.Meter) (*limits, error) {
	l := &limits{keys: deps.Keys, byTen: map[string]ratelimit.Limit{}, bucket: ratelimit.New()}
	if deps.Tenants != nil {
		for _, t := range deps.Tenants.Tenants {
			if t.RateLimit.PerSecond > 0 {
				l.byTen[t.ID] = ratelimit.Limit{PerSecond: t.RateLimit.PerSecond, Burst: t.RateLimit.Burst}
			}
		}
	}
	var err error
	l.limited, err = m.Int64Counter("throughline.collector.rate_limited",
		metric.WithDescription("requests over their key's rate limit, by route, tenant and action "+
			"(rejected with 429, or counted and accepted on the pixel)"))
	if err != nil {
		return nil, fmt.Errorf("creating rate-limit counter: %w", err)
	}
	return l, nil
}

// admit spends one token of the request's key. Over the limit it answers
// 429 with Retry-After and returns false — except on the pixel, which must
// always answer its GIF (a browser cannot retry): there the hit is counted
// as over the limit and let through. Unlimited routes (the tracker script
// writes nothing) are not limited. Requests without a key, or with a key
// no tenant owns, pass: their handler refuses them with 401, and no bucket
// is ever made for a key nobody configured. Re-driven dead letters are not
// limited.
func (p *Pipeline) admit(w http.ResponseWriter, r *http.Request, rt Route) bool {
	l := p.limits
	if len(l.byTen) == 0 || rt.Unlimited || IsRedrive(r.Context()) {
		return true
	}
	o, ok := p.Owner(r)
	if !ok {
		return true
	}
	key, tenant := o.key, o.tenant
	lim, ok := l.byTen[tenant]
	if !ok {
		return true
	}
	allowed, wait := l.bucket.Allow(key, lim, time.Now())
	if allowed {
		return true
	}
	action := "rejected"
	if rt.Pixel {
		action = "counted"
	}
	l.limited.Add(context.Background(), 1, metric.WithAttributes(attribute.String("route", rt.Name),
		attribute.String("tenant", tenant), attribute.String("action", action)))
	if rt.Pixel {
		return true
	}
	source := SourceAPI
	if rt.Source != nil {
		source = rt.Source(r)
	}
	p.M.Reject(source, ReasonRateLimited, "")
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	WriteError(w, http.StatusTooManyRequests,
		fmt.Sprintf("rate limit of this key exceeded (%g requests/s, burst %d): retry later", lim.PerSecond, lim.Burst), "", "")
	return false
}

// Owner is the tenant and key a request authenticates with (an account's
// key or a tenant key, wherever the route takes it); false when it has
// none that a tenant owns — its handler then refuses it with 401.
func (p *Pipeline) Owner(r *http.Request) (bodyOwner, bool) {
	key := Key(r)
	if key == "" {
		return bodyOwner{}, false
	}
	if pr, ok := p.deps.Keys.Lookup(key); ok {
		return bodyOwner{tenant: pr.Tenant, key: key}, true
	}
	if t, ok := p.deps.Keys.LookupTenant(key); ok {
		return bodyOwner{tenant: t, key: key}, true
	}
	return bodyOwner{}, false
}

// Key finds a request's key wherever a route accepts one: ?k=,
// X-Write-Key, Authorization: Bearer, or a "k/<key>" path segment of the
// call-tracking webhooks (for vendors that append to the URL they were
// given, as Mango does).
func Key(r *http.Request) string {
	if k := QueryKey(r.URL.RawQuery); k != "" {
		return k
	}
	if k := WriteKey(r); k != "" {
		return k
	}
	return pathKey(r.URL.Path)
}

// QueryKey reads ?k= from a raw query, cutting what Mango appends to the URL
// it was given ("?k=KEY/events/summary").
func QueryKey(raw string) string {
	if !strings.Contains(raw, "k=") {
		return ""
	}
	q, _ := url.ParseQuery(raw)
	k := strings.TrimSpace(q.Get("k"))
	if i := strings.Index(k, "/events/"); i > 0 {
		k = k[:i]
	}
	return k
}

// pathKey reads a key from ".../k/<key>/..." in a call-tracking webhook path.
func pathKey(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/hooks/calls/")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/")
	for i := 1; i+1 < len(parts); i++ {
		if parts[i] == "k" {
			return parts[i+1]
		}
	}
	return ""
}
