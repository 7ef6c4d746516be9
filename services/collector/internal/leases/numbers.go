package leases

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/services/collector/internal/ingest"
	"github.com/throughline/throughline/services/collector/internal/intake"
	"github.com/throughline/throughline/services/collector/internal/numbers"
	"github.com/throughline/throughline/services/collector/internal/publish"
	"github.com/throughline/throughline/services/collector/internal/ratelimit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const (
	Route  = "/v1/numbers"
	Source = "numbers"
)

// Reply is the body of GET /v1/numbers: the leased number, how to
// show it, until when it is the visitor's, and the texts it replaces.
type Reply struct {
	Number    string   `json:"number"`
	Display   string   `json:"display"`
	ExpiresAt int64    `json:"expires_at"` // Unix ms
	Replace   []string `json:"replace"`
}

type numberMetrics struct {
	leases    metric.Int64Counter
	exhausted metric.Int64Counter
	limited   metric.Int64Counter
}

func newNumberMetrics(m metric.Meter) (*numberMetrics, error) {
	var out numberMetrics
	var err1, err2, err3 error
	out.leases, err1 = m.Int64Counter("throughline.collector.number_leases",
		metric.WithDescription("pool number leases published, by tenant and kind (new, extended, shared)"))
	out.exhausted, err2 = m.Int64Counter("throughline.collector.number_pool_exhausted",
		metric.WithDescription("leases made while every number of the account's pool was leased: "+
			"a visitor's number was handed to another (the pool is too small for the traffic)"))
	out.limited, err3 = m.Int64Counter("throughline.collector.number_leases_limited",
		metric.WithDescription("new number leases refused (429) by tenant and limit (by: client, key)"))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("creating number pool metrics: %w", err)
	}
	return &out, nil
}

// ServeNumbers handles GET /v1/numbers?k=<write key>&cid=<client id>: it
// leases a number of the key's account pool to the client id and publishes
// the lease (a number_lease event) to the raw topic before answering, so the
// stitcher knows who was shown the number before anyone can dial it — and,
// alongside, to the leases topic for the other collectors (announceLease).
func (s *Leases) ServeNumbers(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return // link checkers and prefetchers: no lease
	}
	now := time.Now()
	ctx := context.WithoutCancel(r.Context()) // a lease handed out is published
	q := r.URL.Query()
	key := q.Get(ingest.ParamKey)
	if key == "" {
		s.deps.In.M.Reject(Source, intake.ReasonMissingKey, "k")
		intake.WriteError(w, http.StatusUnauthorized, "write key required: ?k=<key>", "k", "required")
		return
	}
	p, ok := s.deps.Keys.Lookup(key)
	if !ok {
		s.deps.In.M.Reject(Source, intake.ReasonUnknownKey, "k")
		intake.WriteError(w, http.StatusUnauthorized, "unknown write key", "k", "unknown")
		return
	}
	pool := s.pools.For(p.Tenant, p.Account)
	if pool == nil {
		s.deps.In.M.Reject(Source, intake.ReasonInvalid, "k")
		intake.WriteError(w, http.StatusNotFound, "this account has no number pool (call_tracking[].number_pool)", "", "")
		return
	}
	if !s.ready.Load() {
		// Leasing now could hand out a number still shown to a visitor.
		s.deps.In.M.Reject(Source, intake.ReasonRestoring, "")
		s.deps.In.Unavailable(w, "number leases are being restored after a restart, retry later")
		return
	}
	cid := q.Get("cid")
	if cid == "" || len(cid) > event.MaxShort {
		s.deps.In.M.Reject(Source, intake.ReasonInvalid, "cid")
		intake.WriteError(w, http.StatusBadRequest, fmt.Sprintf("cid: the client id is required, at most %d bytes", event.MaxShort), "cid", "required")
		return
	}
	if !pool.Holds(cid, now) && !s.admitLease(w, r, p.Tenant, key, now) {
		return
	}
	l := pool.Lease(cid, now)
	env := event.Envelope{
		V: event.Version, ID: ingest.NewID(now), Tenant: p.Tenant, Account: p.Account,
		Type: event.TypeNumberLease, Source: Source, TS: now.UnixMilli(), ReceivedAt: now.UnixMilli(),
		ClientID: cid, URL: trimTo(r.Referer(), event.MaxURL), UserAgent: trimTo(r.UserAgent(), event.MaxURL), IP: s.deps.IPs.ClientIP(r),
		Lease: &event.NumberLease{Number: l.Number, From: l.From.UnixMilli(), To: l.To.UnixMilli(), Shared: l.Shared},
		// The same in props, which the events table keeps: data teams read
		// leases there without a schema change.
		Props: map[string]string{"tracking_number": l.Number, "lease_from": strconv.FormatInt(l.From.UnixMilli(), 10),
			"lease_to": strconv.FormatInt(l.To.UnixMilli(), 10)},
	}
	if l.Shared {
		env.Props["shared"] = "true"
	}
	recs, err := s.deps.Encode([]event.Envelope{env})
	if err != nil {
		s.deps.In.M.Reject(Source, intake.ReasonInternal, "")
		s.deps.Log.Error().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Msg("number lease not encoded")
		intake.WriteError(w, http.StatusInternalServerError, "internal error", "", "")
		return
	}
	// The raw record first: refused (overload), the lease is published
	// nowhere. Then the other collectors' copy, in flight together with it;
	// the answer waits for the raw topic alone.
	pd, err := s.deps.Pub.Start(ctx, recs, nil)
	if err == nil {
		s.announceLease(ctx, recs[0], p)
		err = pd.Wait(ctx)
	}
	switch {
	case err == nil:
	case errors.Is(err, publish.ErrOverloaded):
		s.deps.In.M.Reject(Source, intake.ReasonOverload, "")
		s.deps.In.Unavailable(w, "collector at capacity, retry later")
		return
	default:
		s.deps.In.M.Reject(Source, intake.ReasonKafka, "")
		s.deps.Warn.Warn().Err(err).Str("tenant", p.Tenant).Str("account", p.Account).Msg("number lease not published")
		s.deps.In.Unavailable(w, "lease not acknowledged by kafka, retry later")
		return
	}
	s.deps.In.M.Accept(Source, 1)
	kind := "new"
	switch {
	case l.Extended:
		kind = "extended"
	case l.Shared:
		kind = "shared"
		s.nm.exhausted.Add(ctx, 1, metric.WithAttributes(attribute.String("tenant", p.Tenant), attribute.String("account", p.Account)))
		s.deps.Warn.Warn().Str("tenant", p.Tenant).Str("account", p.Account).Int("pool_size", pool.Size()).
			Str("number", l.Number).Msg("number pool exhausted, a leased number is shared")
	}
	s.nm.leases.Add(ctx, 1, metric.WithAttributes(attribute.String("tenant", p.Tenant), attribute.String("kind", kind)))
	intake.WriteJSON(w, http.StatusOK, Reply{
		Number: l.Number, Display: numbers.FormatLike(pool.Display, l.Number), ExpiresAt: l.To.UnixMilli(), Replace: pool.Replace,
	})
}

// maxLeaseClients bounds the client addresses whose lease buckets are kept.
const maxLeaseClients = 100_000

// admitLease spends a token of the client address's and the key's new-lease
// limits (Config.LeaseClientRate, LeaseKeyRate); over either it answers 429
// with Retry-After, and the page keeps its own phone number.
func (s *Leases) admitLease(w http.ResponseWriter, r *http.Request, tenant, key string, now time.Time) bool {
	checks := []struct {
		by  string
		lim *ratelimit.Limiter
		id  string
		rl  ratelimit.Limit
	}{
		{"client", s.byClient, clientBucket(s.deps.IPs.ClientIP(r)), s.cfg.ClientRate},
		{"key", s.byKey, key, s.cfg.KeyRate},
	}
	for _, ch := range checks {
		ok, wait := ch.lim.Allow(ch.id, ch.rl, now)
		if ok {
			continue
		}
		s.deps.In.M.Reject(Source, intake.ReasonRateLimited, "")
		s.nm.limited.Add(r.Context(), 1, metric.WithAttributes(attribute.String("tenant", tenant), attribute.String("by", ch.by)))
		w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
		intake.WriteError(w, http.StatusTooManyRequests, fmt.Sprintf(
			"too many new number leases from this %s: retry later (the page keeps its own number meanwhile)", ch.by), "", "")
		return false
	}
	return true
}

// clientBucket is the address a client's lease bucket is kept by: an IPv4
// address, or an IPv6 address's /64 (one subscriber's network).
func clientBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func trimTo(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
