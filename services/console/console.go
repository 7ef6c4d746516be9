// Package console is Throughline's query service: a read-only SQL endpoint
// over the ClickHouse store (for the embedded mode, where the engine is not
// reachable any other way), health and metrics. Reports and the dashboard
// build on it.
package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/telemetry"
)

// Deps are what the console is given.
type Deps struct {
	Tel   *telemetry.Telemetry
	Store chstore.Store
}

// Console serves the query API.
type Console struct {
	cfg     Config
	log     zerolog.Logger
	tel     *telemetry.Telemetry
	store   chstore.Store
	sem     chan struct{}
	health  telemetry.Health
	queries metric.Int64Counter
	latency metric.Float64Histogram
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
	}
	var err error
	if c.queries, err = tel.Meter.Int64Counter("console.sql.queries",
		metric.WithDescription("SQL statements received, by outcome (ok, rejected, engine_error, busy, unauthorized, failed)")); err != nil {
		return nil, fmt.Errorf("creating console metrics: %w", err)
	}
	if c.latency, err = tel.Meter.Float64Histogram("console.sql.duration", metric.WithUnit("s"),
		metric.WithDescription("time to answer a SQL statement that ran")); err != nil {
		return nil, fmt.Errorf("creating console metrics: %w", err)
	}
	c.health.AddCheck("clickhouse", deps.Store.Ping)
	return c, nil
}

// Handler is the console's HTTP API: /v1/sql, /healthz, /readyz, /metrics.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/sql", c.handleSQL)
	mux.HandleFunc("GET /v1/sql", c.handleSQL)
	c.tel.Mount(mux, &c.health)
	return mux
}

// Run listens on the configured address and serves until ctx is done, then
// shuts down gracefully.
func (c *Console) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on console-addr %s: %w", c.cfg.Addr, err)
	}
	return c.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done; running statements get the shutdown
// timeout to finish. It closes ln.
func (c *Console) Serve(ctx context.Context, ln net.Listener) error {
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
