// Package console is Throughline's query service: the report API (cost,
// traffic, leads and revenue per channel, campaign, account and day under
// each attribution model, and the live lead flow; per-tenant read tokens),
// a read-only SQL endpoint over the ClickHouse store (for the embedded mode,
// where the engine is not reachable any other way), health and metrics. It
// only reads: the report aggregates it reads are kept up to date by the
// refresher (services/refresher), the tables by the loader.
package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console/analytics"
	"github.com/throughline/throughline/services/console/dashboard"
)

// DefaultDatabase is where the tables are when Deps.Database is empty.
const DefaultDatabase = "throughline"

// Deps are what the console is given.
type Deps struct {
	Tel   *telemetry.Telemetry
	Store chstore.Store
	// Tenants gives the report API its read tokens, time zones, margins and
	// currencies. Without it reports answer only on an open console (no
	// --sql-token), in UTC, with no margin.
	Tenants *tenants.Config
	// Database holds Throughline's tables (default "throughline").
	Database string
	// Kafka, when set, feeds the dashboard's live lead view from the leads
	// topic; nil: no live stream (the page says so).
	Kafka *kafka.Config
	// Alerts is the alerter's GET /v1/alerts handler; the console serves it
	// behind the tenant's token. Nil: alerts are read from the alerts table.
	Alerts http.Handler
	// CostConnectors is the collector's cost connector status handler
	// (CostConnectorsHandler); the dashboard serves it behind the tenant's
	// token. Nil: connectors are listed from the tenants file, no status.
	CostConnectors http.Handler
}

// Console serves the query API.
type Console struct {
	cfg   Config
	log   zerolog.Logger
	tel   *telemetry.Telemetry
	store chstore.Store
	// sqlStore runs /v1/sql statements: a second engine connection where
	// the store has one (embedded), so users' SQL never holds up the
	// reports, /readyz and the loader's inserts on store; else store.
	sqlStore chstore.Store
	sem      chan struct{}
	users    userSlots // statements running per user (MaxConcurrentPerUser)
	health   telemetry.Health
	queries  metric.Int64Counter
	latency  metric.Float64Histogram
	kills    metric.Int64Counter

	tenants   *tenants.Config
	keys      *tenants.Keys
	reports   *analytics.Reports
	reportSem chan struct{}
	reqs      metric.Int64Counter
	reqTime   metric.Float64Histogram

	dash *dashboard.Dashboard
	db   string // database of Throughline's tables (the BI panel names it)

	allowedHosts []string // host names besides IP literals and localhost (access.go)
}

// New builds a console. Nothing listens until Run.
func New(cfg Config, deps Deps) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("console: a store is required")
	}
	cfg = cfg.withDefaults()
	tel := deps.Tel
	if tel == nil {
		tel = telemetry.Nop()
	}
	c := &Console{
		cfg:   cfg,
		log:   tel.Log.With().Str("component", "console").Logger(),
		tel:   tel,
		store: deps.Store,
		sem:   make(chan struct{}, cfg.MaxConcurrent),

		allowedHosts: parseHosts(cfg.AllowedHosts),
	}
	var err error
	if c.sqlStore, err = sqlStoreOf(deps.Store); err != nil {
		return nil, err
	}
	if c.queries, err = tel.Meter.Int64Counter("console.sql.queries",
		metric.WithDescription("SQL statements received, by outcome (ok, rejected, engine_error, busy, busy_user, unauthorized, failed)")); err != nil {
		return nil, fmt.Errorf("creating console metrics: %w", err)
	}
	if c.latency, err = tel.Meter.Float64Histogram("console.sql.duration", metric.WithUnit("s"),
		metric.WithDescription("time to answer a SQL statement that ran")); err != nil {
		return nil, fmt.Errorf("creating console metrics: %w", err)
	}
	if c.kills, err = tel.Meter.Int64Counter("console.sql.killed",
		metric.WithDescription("SQL statements killed by the watchdog: past their time limit and its grace, or their caller gone")); err != nil {
		return nil, fmt.Errorf("creating console metrics: %w", err)
	}
	if err := c.setupReports(deps); err != nil {
		return nil, err
	}
	if err := c.setupDashboard(deps); err != nil {
		return nil, err
	}
	c.db = cmp.Or(deps.Database, DefaultDatabase)
	c.health.AddCheck("clickhouse", deps.Store.Ping)
	return c, nil
}

// Handler is the console's HTTP API: /v1/sql, /v1/reports/*, the dashboard
// (/dashboard/, /v1/dashboard/*, /v1/alerts), /healthz, /readyz, /metrics.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sql", c.handleSQL)
	c.mountReports(mux)
	c.dash.Mount(mux)
	mux.HandleFunc("GET /v1/dashboard/bi", c.serveBI)
	c.tel.Mount(mux, &c.health)
	return c.guard(mux)
}

// Run listens on the configured address and serves until ctx is done, then
// shuts down in this order: the listener closes (no new requests), running
// statements and reports get ShutdownTimeout to finish, then the dashboard's
// live feed stops (open live streams end). The console writes nothing, so
// nothing is lost when it stops.
func (c *Console) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on console-addr %s: %w", c.cfg.Addr, err)
	}
	return c.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done; running statements get the shutdown
// timeout to finish. It closes ln. The dashboard's live lead feed runs
// alongside and stops with it (open live streams end at once).
func (c *Console) Serve(ctx context.Context, ln net.Listener) error {
	stopDashboard := c.startDashboard(ctx)
	defer stopDashboard()
	srv := &http.Server{
		Handler:           c.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      c.cfg.QueryTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	c.log.Info().Str("addr", ln.Addr().String()).Msg("console listening")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving console: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shutting down console: %w", err)
	}
	c.log.Info().Msg("console stopped")
	return nil
}
