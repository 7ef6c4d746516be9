// Package dashboard is the console's web dashboard for a tenant's ops team:
// cost and revenue per channel (from the report API, the same numbers),
// lead flow over time, leads arriving live over server-sent events, active
// and recent alerts and dead letters per source. The page is plain HTML,
// CSS and JavaScript embedded in the binary; it logs in with the tenant's
// read token and sends it as a Bearer token on every request.
//
// The live view reads the stitcher's leads topic with its own consumer (no
// group, from the end, read-committed) and fans each lead out to the open
// streams of its tenant only, through bounded buffers: a subscriber that
// falls behind is dropped, never the feed blocked.
package dashboard

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
)

//go:embed static
var static embed.FS

// Config of the dashboard. Zero values take the defaults.
type Config struct {
	// SubscriberBuffer is how many leads one live stream may have waiting;
	// a stream further behind is dropped (the page reconnects).
	SubscriberBuffer int
	// MaxSubscribers bounds the live streams open at once, over every
	// tenant; more are answered 503.
	MaxSubscribers int
	// MaxSubscribersPerTenant bounds one tenant's live streams, so no
	// tenant can take the streams every other needs; more get 429.
	MaxSubscribersPerTenant int
	// Heartbeat is how often an idle stream gets a comment line, so proxies
	// and the page know it is alive.
	Heartbeat time.Duration
	// WriteTimeout bounds writing one event to a stream.
	WriteTimeout time.Duration
	// RetryDelay is how long the feed waits before reconnecting to Kafka
	// or looking for the leads topic again.
	RetryDelay time.Duration
}

// Defaults.
const (
	DefaultSubscriberBuffer = 256
	DefaultMaxSubscribers   = 1000
	// DefaultMaxSubscribersPerTenant is a few screens per branch of a
	// large network, well under DefaultMaxSubscribers.
	DefaultMaxSubscribersPerTenant = 100
	DefaultHeartbeat               = 15 * time.Second
	DefaultWriteTimeout            = 10 * time.Second
	DefaultRetryDelay              = 2 * time.Second
)

func (c Config) withDefaults() Config {
	c.SubscriberBuffer = cmp.Or(c.SubscriberBuffer, DefaultSubscriberBuffer)
	c.MaxSubscribers = cmp.Or(c.MaxSubscribers, DefaultMaxSubscribers)
	c.MaxSubscribersPerTenant = cmp.Or(c.MaxSubscribersPerTenant, min(DefaultMaxSubscribersPerTenant, c.MaxSubscribers))
	c.Heartbeat = cmp.Or(c.Heartbeat, DefaultHeartbeat)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.RetryDelay = cmp.Or(c.RetryDelay, DefaultRetryDelay)
	return c
}

// Validate names the setting that is wrong.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.SubscriberBuffer < 1 {
		errs = append(errs, fmt.Errorf("dashboard subscriber buffer: %d must be at least 1", c.SubscriberBuffer))
	}
	if c.MaxSubscribers < 1 {
		errs = append(errs, fmt.Errorf("dashboard max subscribers: %d must be at least 1", c.MaxSubscribers))
	}
	if c.MaxSubscribersPerTenant < 1 || c.MaxSubscribersPerTenant > c.MaxSubscribers {
		errs = append(errs, fmt.Errorf("dashboard max subscribers per tenant: %d must be between 1 and the max subscribers (%d)",
			c.MaxSubscribersPerTenant, c.MaxSubscribers))
	}
	if c.Heartbeat < time.Millisecond || c.WriteTimeout < time.Millisecond || c.RetryDelay < time.Millisecond {
		errs = append(errs, errors.New("dashboard heartbeat, write timeout and retry delay: must be at least 1ms"))
	}
	return errors.Join(errs...)
}

// Authorizer resolves the tenant a request may read (its Bearer token's;
// ?tenant= may only repeat it). A refusal is an *AuthError.
type Authorizer func(r *http.Request) (tenant string, err error)

// AuthError is a refused request and the status to answer it with.
type AuthError struct {
	Status int
	Msg    string
}

func (e *AuthError) Error() string { return e.Msg }

// Deps are what the dashboard is given.
type Deps struct {
	Tel   *telemetry.Telemetry
	Store chstore.Store
	// Database holds Throughline's tables (default "throughline").
	Database string
	// Tenants names branches and gives time zones and currencies (optional).
	Tenants *tenants.Config
	// Authorize checks every request (required).
	Authorize Authorizer
	// Kafka, when set, feeds the live lead view from the leads topic; nil
	// turns the live view off (the page says so).
	Kafka *kafka.Config
	// Alerts serves GET /v1/alerts?tenant= (the alerter's Handler); the
	// dashboard mounts it behind Authorize. Nil: alerts are read from the
	// alerts table, when there is one.
	Alerts http.Handler
	// CostConnectors serves GET ?tenant=[&account=] with the status of the
	// tenant's cost connectors (the collector's CostConnectorsHandler); the
	// dashboard mounts it behind Authorize. Nil: the connectors are listed
	// from the tenants file without status.
	CostConnectors http.Handler
}

// Live feed states.
const (
	LiveOff      = "off"      // no Kafka configured
	LiveStopped  = "stopped"  // configured, Run not running
	LiveStarting = "starting" // connecting, or waiting for the leads topic
	LiveOn       = "live"     // reading the leads topic
)

// Dashboard serves the page and its endpoints.
type Dashboard struct {
	cfg       Config
	log       zerolog.Logger
	store     chstore.Store
	db        string
	tenants   *tenants.Config
	authorize Authorizer
	kafka     *kafka.Config
	alerts    http.Handler
	// costConnectors is Deps.CostConnectors.
	costConnectors http.Handler
	hub            *hub
	assets         fs.FS

	mu    sync.Mutex
	state string

	leads   metric.Int64Counter
	dropped metric.Int64Counter
	streams metric.Int64UpDownCounter
	// refusedStreams counts streams refused by a limit, by tenant and reason.
	refusedStreams metric.Int64Counter
}

// New builds a dashboard; nothing is read until Run and the first request.
func New(cfg Config, deps Deps) (*Dashboard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("dashboard: a store is required")
	}
	if deps.Authorize == nil {
		return nil, errors.New("dashboard: an authorizer is required")
	}
	if deps.Kafka != nil {
		if err := deps.Kafka.Validate(); err != nil {
			return nil, fmt.Errorf("dashboard live stream: %w", err)
		}
	}
	cfg = cfg.withDefaults()
	tel := deps.Tel
	if tel == nil {
		tel = telemetry.Nop()
	}
	d := &Dashboard{
		cfg: cfg, log: tel.Log.With().Str("component", "dashboard").Logger(),
		store: deps.Store, db: deps.Database, tenants: deps.Tenants, authorize: deps.Authorize,
		kafka: deps.Kafka, alerts: deps.Alerts, costConnectors: deps.CostConnectors, state: LiveOff,
	}
	if d.db == "" {
		d.db = "throughline"
	}
	if d.tenants == nil {
		d.tenants = &tenants.Config{}
	}
	if d.kafka != nil {
		d.state = LiveStopped
	}
	var err error
	if d.assets, err = fs.Sub(static, "static"); err != nil {
		return nil, fmt.Errorf("reading the dashboard's files: %w", err)
	}
	if d.leads, err = tel.Meter.Int64Counter("console.dashboard.live_leads",
		metric.WithDescription("lead records read from the leads topic for the live view, by outcome (sent, unsubscribed, undecodable)")); err != nil {
		return nil, fmt.Errorf("creating dashboard metrics: %w", err)
	}
	if d.dropped, err = tel.Meter.Int64Counter("console.dashboard.dropped_streams",
		metric.WithDescription("live streams dropped because they fell behind")); err != nil {
		return nil, fmt.Errorf("creating dashboard metrics: %w", err)
	}
	if d.streams, err = tel.Meter.Int64UpDownCounter("console.dashboard.streams",
		metric.WithDescription("live streams open")); err != nil {
		return nil, fmt.Errorf("creating dashboard metrics: %w", err)
	}
	if d.refusedStreams, err = tel.Meter.Int64Counter("console.dashboard.refused_streams",
		metric.WithDescription("live streams refused, by tenant and reason (tenant_limit, limit, stopping)")); err != nil {
		return nil, fmt.Errorf("creating dashboard metrics: %w", err)
	}
	d.hub = newHub(cfg.MaxSubscribers, cfg.MaxSubscribersPerTenant, cfg.SubscriberBuffer, func(tenant string) {
		d.dropped.Add(context.Background(), 1, metric.WithAttributes(attribute.String("tenant", tenant)))
	})
	return d, nil
}

// Mount adds the dashboard's routes to mux: the page under /dashboard/ (and
// / redirecting to it), GET /v1/dashboard/{tenant,leads/stream,leads/recent,
// deadletters,restatements,costs/connectors} and GET /v1/alerts.
func (d *Dashboard) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard/", http.StatusFound)
	})
	files := http.StripPrefix("/dashboard/", http.FileServerFS(d.assets))
	mux.Handle("GET /dashboard/", noCache(files))
	mux.HandleFunc("GET /v1/dashboard/tenant", d.serveTenant)
	mux.HandleFunc("GET /v1/dashboard/leads/stream", d.serveStream)
	mux.HandleFunc("GET /v1/dashboard/leads/recent", d.serveRecentLeads)
	mux.HandleFunc("GET /v1/dashboard/deadletters", d.serveDeadLetters)
	mux.HandleFunc("GET /v1/dashboard/restatements", d.serveRestatements)
	mux.HandleFunc("GET /v1/dashboard/costs/connectors", d.serveCostConnectors)
	mux.HandleFunc("GET /v1/alerts", d.serveAlerts)
}

// noCache makes browsers revalidate the page's files, so a new console
// version is picked up at once (they are small).
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

// Run reads the leads topic for the live view until ctx ends, then ends
// every open stream. Without Kafka it only waits for ctx.
func (d *Dashboard) Run(ctx context.Context) error {
	defer d.hub.close()
	if d.kafka == nil {
		<-ctx.Done()
		return nil
	}
	defer d.setState(LiveStopped)
	return d.feed(ctx)
}

// LiveState is off, stopped, starting or live.
func (d *Dashboard) LiveState() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

func (d *Dashboard) setState(s string) {
	d.mu.Lock()
	d.state = s
	d.mu.Unlock()
}
