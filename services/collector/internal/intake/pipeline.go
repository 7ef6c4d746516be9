package intake

import (
	"errors"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/publish"
	"github.com/throughline/throughline/services/collector/internal/ratelimit"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Sources of the pixel and the events API (metrics and dead letters).
const (
	SourcePixel = "pixel"
	SourceAPI   = "api"
)

// Config is the part of the collector's configuration the pipeline applies.
type Config struct {
	MaxBodyBytes    int64         // larger bodies get 413
	BodyReadTimeout time.Duration // a body arrives within this in all…
	BodyIdleTimeout time.Duration // …with no pause longer than this
	RetryAfter      time.Duration // advised in Retry-After on 503 and over-share 429
	// DeadLetterRate bounds the dead letters one account's refused input
	// writes (DeadLetter); zero is no bound.
	DeadLetterRate ratelimit.Limit
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Tracer  trace.Tracer
	Meter   metric.Meter
	Pub     *publish.Publisher
	Keys    *tenants.Keys
	Tenants *tenants.Config // the tenants' rate limits; nil: none
	Log     zerolog.Logger
	Warn    zerolog.Logger // sampled, for failures that repeat under load
	// Encode turns envelopes into raw-topic records (the collector hashes
	// phones and e-mails with the tenant's salt there).
	Encode func([]event.Envelope) ([]*kgo.Record, error)
	// Scrub removes personal data from a dead letter's reason and payload;
	// Clean from a reason that is logged.
	Scrub func(p tenants.Principal, reason string, payload []byte) (string, []byte)
	Clean func(p tenants.Principal, reason string) string
}

// Pipeline holds what every route's requests go through.
type Pipeline struct {
	cfg      Config
	deps     Deps
	M        *Metrics
	limits   *limits
	dlqLimit *ratelimit.Limiter
}

// New builds the pipeline and registers its metrics.
func New(cfg Config, deps Deps) (*Pipeline, error) {
	if deps.Pub == nil || deps.Keys == nil || deps.Encode == nil || deps.Scrub == nil || deps.Clean == nil {
		return nil, errors.New("intake: publisher, keys, encode, scrub and clean are required")
	}
	m, err := NewMetrics(deps.Meter, deps.Pub.InFlight)
	if err != nil {
		return nil, err
	}
	lim, err := newLimits(deps, deps.Meter)
	if err != nil {
		return nil, err
	}
	return &Pipeline{cfg: cfg, deps: deps, M: m, limits: lim, dlqLimit: ratelimit.New()}, nil
}
