// Package collector is Throughline's HTTP edge: it authenticates pixel hits
// and event batches by write key, normalises them into event envelopes and
// publishes them to the raw Kafka topic, answering 2xx only once Kafka has
// acknowledged them. Input it cannot accept is answered with the field at
// fault and dead-lettered; when Kafka is slow it sheds load with 503 instead
// of queueing without bound.
package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/throughline/throughline/services/collector/internal/leases"

	"github.com/throughline/throughline/services/collector/internal/redrive"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/clientip"
	"github.com/throughline/throughline/services/collector/internal/costpull"
	"github.com/throughline/throughline/services/collector/internal/hooks/crm/fetch"
	"github.com/throughline/throughline/services/collector/internal/intake"
	"github.com/throughline/throughline/services/collector/internal/publish"
	"github.com/throughline/throughline/services/collector/internal/tracker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Deps are the collector's collaborators, built by the caller.
type Deps struct {
	Tel *telemetry.Telemetry
	// Producer is a client built with kafka.BaseOpts and
	// kafka.ProducerOpts(cfg.MaxInFlightRecords) or more.
	Producer *kgo.Client
	Keys     *tenants.Keys
	// Tenants is the integrations configuration (CRMs, call tracking) of
	// the accounts Keys resolve to. Without it no account has a number pool
	// (GET /v1/numbers answers 404), CRM webhooks use defaults and
	// Bitrix24 webhooks are refused; call-tracking webhooks are refused
	// (a provider must be enabled in the account's call_tracking), cost
	// uploads are taken in RUB and UTC, and no rate limits apply. Its
	// accounts' (and tenants') cost_connectors are pulled daily while
	// Serve runs (costpull.go).
	Tenants *tenants.Config
}

// Collector serves the collector's HTTP API.
type Collector struct {
	cfg  Config
	deps Deps
	log  zerolog.Logger
	warn zerolog.Logger // sampled, for failures that repeat under load
	pub  *publish.Publisher
	ips  *clientip.Resolver
	// in is the request pipeline every route's requests take (key, rate
	// limit, body, refusal and dead letter, publish, answer); m its metrics.
	in      *intake.Pipeline
	m       *intake.Metrics
	crmPool *fetch.Pool
	// personal is each account's phone region and each tenant's hasher
	// of phones and e-mails (personal.go).
	personal *personal
	handler  http.Handler
	// leases are the number pools: GET /v1/numbers, the lease tables read
	// back at start and the other collectors' leases followed (RestoreLeases,
	// RunLeases, Serve).
	leases *leases.Leases
	ids    *recentIDs

	costs       *costpull.Puller // the cost connectors' daily pulls; nil when none run here
	costLeading atomic.Bool      // while leading CostPullGroup (with CostPull.Elect)
}

// New builds a collector; it starts nothing until Run or Serve.
func New(cfg Config, deps Deps) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Tel == nil || deps.Producer == nil || deps.Keys == nil {
		return nil, errors.New("collector: telemetry, producer and keys are required")
	}
	ips, err := clientip.Parse(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("collector-trusted-proxies: %w", err)
	}
	pub, err := publish.New(deps.Producer, publish.Config{
		MaxRecords: int64(cfg.MaxInFlightRecords),
		MaxBytes:   int64(cfg.MaxInFlightBytes),
		Timeout:    cfg.PublishTimeout,
		Shares:     cfg.shares(),
	}, deps.Tel.Meter)
	if err != nil {
		return nil, err
	}
	crmPool, err := fetch.New(cfg.CRM.Fetch, nil, deps.Tel.Meter)
	if err != nil {
		return nil, err
	}
	log := deps.Tel.Log.With().Str("component", "collector").Logger()
	c := &Collector{
		cfg: cfg, deps: deps, log: log, pub: pub, ips: ips, crmPool: crmPool,
		warn: log.Sample(&zerolog.BurstSampler{Burst: 5, Period: 10 * time.Second}),
	}
	c.personal = newPersonal(deps.Tenants)
	c.in, err = intake.New(intake.Config{
		MaxBodyBytes: int64(cfg.MaxBodyBytes), BodyReadTimeout: cfg.BodyReadTimeout, BodyIdleTimeout: cfg.BodyIdleTimeout,
		RetryAfter: cfg.RetryAfter, DeadLetterRate: cfg.DeadLetterRate,
	}, intake.Deps{
		Tracer: deps.Tel.Tracer, Meter: deps.Tel.Meter, Pub: pub, Keys: deps.Keys, Tenants: deps.Tenants,
		Log: log, Warn: c.warn, Encode: c.envelopeRecords, Scrub: c.scrubbed, Clean: c.clean,
	})
	if err != nil {
		return nil, err
	}
	c.m = c.in.M
	for _, sources := range [][]string{crmSources, callSources, chatSources, costSources, {leases.Source}} {
		c.m.DeclareSources(sources...)
	}
	if deps.Tenants != nil {
		for _, acc := range deps.Tenants.LegacyKeyAccounts() {
			log.Warn().Str("account", acc).Msg("account still uses write_keys, one key for site and server: split them into site_keys (public) and server_keys (secret); write_keys stop working in the next release (docs/security.md)")
		}
	}
	if c.ids, err = newRecentIDs(cfg.Dedup.MaxIDs, deps.Tel.Meter); err != nil {
		return nil, err
	}
	if ids := unsalted(deps.Tenants); len(ids) > 0 {
		log.Warn().Strs("tenants", ids).Msg("tenants without pii_salt: their phones and e-mails are published in clear, set pii_salt (openssl rand -hex 32)")
	}
	c.leases, err = leases.New(leases.Config{
		RestoreTimeout: cfg.LeaseRestoreTimeout, ClientRate: cfg.LeaseClientRate, KeyRate: cfg.LeaseKeyRate,
	}, leases.Deps{
		Meter: deps.Tel.Meter, Producer: deps.Producer, ReaderOpts: c.readerOpts, Pub: pub, In: c.in,
		Keys: deps.Keys, Tenants: deps.Tenants, IPs: ips, Encode: c.envelopeRecords, Log: log, Warn: c.warn,
	})
	if err != nil {
		return nil, err
	}
	if c.costs, err = c.newCostPuller(); err != nil {
		return nil, fmt.Errorf("cost connectors: %w", err)
	}
	if c.costs != nil {
		if err := c.registerCostLeaderGauge(deps.Tel.Meter); err != nil {
			return nil, err
		}
	}
	c.handler = c.routes()
	return c, nil
}

func (c *Collector) routes() http.Handler {
	mux := http.NewServeMux()
	in := c.in
	vendor := func(kind string) func(*http.Request) string { // hook:<provider>, crm:<provider>
		return func(r *http.Request) string { return kind + ":" + r.PathValue("provider") }
	}
	mux.Handle("GET /px.gif", in.Handle(intake.Route{Name: routePixel, Pixel: true}, c.servePixel))
	mux.Handle("POST /v1/events", in.Handle(intake.Route{Name: routeEvents}, c.serveEvents))
	mux.HandleFunc("OPTIONS /v1/events", intake.ServePreflight)
	calls := intake.Route{Name: routeCallHooks, Source: vendor("hook")}
	for _, pattern := range []string{"/v1/hooks/calls/{provider}", "/v1/hooks/calls/{provider}/{rest...}"} {
		mux.Handle("GET "+pattern, in.Handle(calls, c.serveCallHook))
		mux.Handle("POST "+pattern, in.Handle(calls, c.serveCallHook))
	}
	mux.Handle("POST "+routeCosts, in.Handle(intake.Route{Name: routeCosts,
		Source: func(r *http.Request) string { return costsSource(r.URL.Query().Get("format")) }}, c.serveCosts))
	mux.Handle("POST /v1/hooks/crm/{provider}", in.Handle(intake.Route{Name: routeCRM, Source: vendor("crm")}, c.serveCRM))
	mux.Handle("POST "+routeChatHooks+"/{provider}", in.Handle(intake.Route{Name: routeChatHooks, Source: chatSource}, c.serveChatHook))
	mux.Handle("POST "+redrive.Route, in.Handle(intake.Route{Name: redrive.Route}, (&redrive.Endpoint{
		Token: c.cfg.Redrive.Token, MaxBytes: int64(4*c.cfg.MaxBodyBytes + 1<<20), Tenants: c.deps.Tenants,
		Routes: mux, Log: c.log,
	}).ServeHTTP))
	mux.Handle("GET /t.js", in.Handle(intake.Route{Name: routeTracker, Unlimited: true}, tracker.Handler().ServeHTTP))
	mux.Handle("GET "+leases.Route, in.Handle(intake.Route{Name: leases.Route,
		Source: func(*http.Request) string { return leases.Source }}, c.leases.ServeNumbers))
	health := &telemetry.Health{}
	health.AddCheck("kafka", func(ctx context.Context) error { return c.deps.Producer.Ping(ctx) })
	health.AddCheck("number leases", c.leases.Restoring)
	health.AddCheck("event ids", c.idsRestoring)
	c.deps.Tel.Mount(mux, health)
	return mux
}

// envelopeRecords encodes envelopes as raw-topic records keyed by account,
// their phones and e-mails hashed with the tenant's salt.
func (c *Collector) envelopeRecords(envs []event.Envelope) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, len(envs))
	for i := range envs {
		v, err := intake.EncodeJSON(c.hashed(&envs[i]))
		if err != nil {
			return nil, fmt.Errorf("encoding envelope: %w", err)
		}
		recs[i] = &kgo.Record{Topic: kafka.TopicRaw, Key: envs[i].Key(), Value: v}
	}
	return recs, nil
}

// RestoreLeases reads the lease tables back from Kafka (leases.Leases.Restore):
// for callers that serve Handler themselves, with one collector alone.
func (c *Collector) RestoreLeases(ctx context.Context) { c.leases.Restore(ctx) }

// RunLeases restores the lease tables and then follows the other
// collectors' leases until ctx ends (leases.Leases.Run): for callers that
// serve Handler themselves.
func (c *Collector) RunLeases(ctx context.Context) { c.leases.Run(ctx) }

// Handler is every route of the collector, including /healthz, /readyz and
// /metrics, for callers that run their own server; they run RunLeases too
// (Serve does).
func (c *Collector) Handler() http.Handler { return c.handler }

// Run listens on cfg.Addr and serves until ctx is done, then shuts down
// gracefully within cfg.ShutdownTimeout.
func (c *Collector) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.cfg.Addr, err)
	}
	return c.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully: it stops
// accepting, lets requests waiting for Kafka finish within cfg.ShutdownTimeout
// and closes ln. Flushing the producer is the caller's, after Serve returns.
//
// Meanwhile it restores the number leases and follows the other
// collectors' (RunLeases): every other route serves at once, GET
// /v1/numbers once the leases are back. And it runs the cost connectors'
// daily pulls, when this collector leads their group (costleader.go).
func (c *Collector) Serve(ctx context.Context, ln net.Listener) error {
	if restore := c.leases.Begin(); restore != nil {
		rctx, stopRestore := context.WithCancel(ctx)
		restored := make(chan struct{})
		go func() {
			defer close(restored)
			restore(rctx, true)
		}()
		defer func() {
			stopRestore()
			<-restored
		}()
	}
	idsCtx, stopIDs := context.WithCancel(ctx)
	idsDone := make(chan struct{})
	c.ids.ready.Store(c.cfg.Dedup.Restore <= 0)
	go func() {
		defer close(idsDone)
		c.restoreIDs(idsCtx)
	}()
	defer func() {
		stopIDs()
		<-idsDone
	}()
	defer c.runCostPulls(ctx)()
	srv := &http.Server{
		Handler:           c.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      c.cfg.PublishTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	c.log.Info().Str("addr", ln.Addr().String()).Msg("collector listening")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close() // the deadline passed: drop what is left
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shutting down http server: %w", err)
	}
	c.log.Info().Msg("collector stopped")
	return nil
}
