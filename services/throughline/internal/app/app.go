package app

import (
	"time"

	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"

	"github.com/throughline/throughline/pkg/chhttp"
	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/embedded"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/schemas"
	"github.com/throughline/throughline/services/alerter"
	"github.com/throughline/throughline/services/collector"
	"github.com/throughline/throughline/services/console"
	"github.com/throughline/throughline/services/loader"
	"github.com/throughline/throughline/services/refresher"
	"github.com/throughline/throughline/services/stitcher"
)

// App is a running all-in-one process.
type App struct {
	cfg       Config
	log       zerolog.Logger
	tel       *telemetry.Telemetry
	broker    *embedded.Broker
	store     chstore.Store
	producer  *kgo.Client
	tenants   *tenants.Config
	collector *collector.Collector
	stitcher  *stitcher.Stitcher
	loader    *loader.Loader
	alerter   *alerter.Alerter
	console   *console.Console
	refresher *refresher.Refresher
	chhttp    *chhttp.Server // nil when --clickhouse-http-addr is off
}

// Start brings up the broker, the engine and the services' dependencies.
// Nothing serves until Run.
func Start(ctx context.Context, cfg Config, logOut io.Writer) (_ *App, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log, err := cfg.Log.Logger(logOut)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log}
	// What started before a failure is closed again.
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.tel, err = telemetry.New(log, "throughline"); err != nil {
		return nil, err
	}
	if a.tenants, err = loadTenants(cfg.TenantsFile); err != nil {
		return nil, err
	}

	a.broker, err = embedded.Start(embedded.Config{
		Host: cfg.KafkaHost, SASLUser: cfg.KafkaSASLUser, SASLPassword: cfg.KafkaSASLPassword,
		Port:       cfg.KafkaPort,
		DataDir:    filepath.Join(cfg.DataDir, "kafka"),
		SyncWrites: cfg.SyncWrites,
	})
	if err != nil {
		return nil, err
	}
	for _, r := range a.broker.Repaired {
		log.Warn().Str("topic", r.Topic).Int32("partition", r.Partition).Int64("producer_id", r.ProducerID).Int64("from", r.From).
			Msg("the last run was killed with this transaction open: marked aborted")
	}
	kcfg := a.broker.Client()
	kcfg.ClientID = "throughline"
	if err := ensureTopics(ctx, kcfg, log); err != nil {
		return nil, err
	}

	storeCfg := chstore.Config{Mode: "embedded", DataDir: filepath.Join(cfg.DataDir, "clickhouse"), Database: cfg.Loader.Database}
	if a.store, err = chstore.Open(ctx, storeCfg); err != nil {
		return nil, err
	}
	if err := schemas.Migrate(ctx, a.store, cfg.Loader.Database); err != nil {
		return nil, err
	}

	if cfg.ClickHouseHTTP.Enabled() {
		a.chhttp, err = chhttp.New(cfg.ClickHouseHTTP, chhttp.Deps{
			Log: log, Store: a.store.(*chstore.Embedded), Tenants: a.tenants, Database: cfg.Loader.Database, Meter: a.tel.Meter,
		})
		if err != nil {
			return nil, err
		}
		// Bound now, so a taken port fails the start and the banner knows it.
		if err := a.chhttp.Listen(); err != nil {
			return nil, err
		}
		// The dashboard's "Connect your BI" panel names this listener,
		// unless told the address data teams reach it by.
		if cfg.Console.ClickHouseURL == "" {
			cfg.Console.ClickHouseURL = "http://" + a.chhttp.Addr()
		}
	}

	popts := append(kafka.BaseOpts(kcfg, log), kafka.ProducerOpts(cfg.Collector.MaxInFlightRecords)...)
	if a.producer, err = kgo.NewClient(popts...); err != nil {
		return nil, fmt.Errorf("creating producer: %w", err)
	}
	a.collector, err = collector.New(cfg.Collector, collector.Deps{Tel: a.tel, Producer: a.producer, Keys: tenants.NewKeys(a.tenants), Tenants: a.tenants})
	if err != nil {
		return nil, err
	}
	// The embedded broker restarted with this process and aborted whatever
	// transaction a crash left open (embedded.Start writes the markers kfake
	// does not): nothing to fence, and a fresh transactional id keeps the
	// stitcher's new output clear of the old producer id even so.
	stCfg := cfg.Stitcher
	stCfg.TransactionalID = stitcher.FreshTransactionalID(stCfg.TransactionalID)
	if a.stitcher, err = stitcher.New(stCfg, stitcher.Deps{Tel: a.tel, Kafka: kcfg, Tenants: a.tenants}); err != nil {
		return nil, err
	}
	if a.loader, err = loader.New(cfg.Loader, loader.Deps{Tel: a.tel, Store: a.store, Kafka: kcfg, DedupWindow: a.tenants.DedupWindow}); err != nil {
		return nil, err
	}
	if a.alerter, err = alerter.New(cfg.Alerter, alerter.Deps{Tel: a.tel, Kafka: kcfg, Tenants: a.tenants}); err != nil {
		return nil, err
	}
	a.refresher, err = refresher.New(cfg.Refresher, refresher.Deps{
		Tel: a.tel, Store: a.store, Database: cfg.Loader.Database, Zones: a.tenants.Zone, Kafka: kcfg})
	if err != nil {
		return nil, err
	}
	a.console, err = console.New(cfg.Console, console.Deps{
		Tel: a.tel, Store: a.store, Tenants: a.tenants, Database: cfg.Loader.Database,
		Kafka: &kcfg, Alerts: a.alerter.Handler(), CostConnectors: a.collector.CostConnectorsHandler(),
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func ensureTopics(ctx context.Context, kcfg kafka.Config, log zerolog.Logger) error {
	cl, err := kgo.NewClient(kafka.BaseOpts(kcfg, log)...)
	if err != nil {
		return fmt.Errorf("creating admin client: %w", err)
	}
	defer cl.Close()
	return kafka.EnsureTopics(ctx, kadm.NewClient(cl), kcfg.Replication, kafka.Topics)
}

// ExampleTenantsFile is the documented example a missing tenants file's
// error points to.
const ExampleTenantsFile = "deploy/tenants.example.yaml"

// loadTenants reads the tenants file. There is no default: credentials are
// generated by whoever writes the file (or by "throughline demo" for its
// own network), never made up by the process.
func loadTenants(path string) (*tenants.Config, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tenants-file: %s does not exist; copy %s there and replace its keys "+
			"(openssl rand -hex 24), or try \"throughline demo\", which generates a demo network", path, ExampleTenantsFile)
	}
	return tenants.Load(path)
}

// Tenants is the loaded tenants configuration.
func (a *App) Tenants() *tenants.Config { return a.tenants }

// KafkaAddr is where the embedded broker listens.
func (a *App) KafkaAddr() string { return a.broker.Addr() }

// Kafka is how a client reaches the embedded broker (the demo reads the
// pipeline's consumer lag through it).
func (a *App) Kafka() kafka.Config {
	kcfg := a.broker.Client()
	kcfg.ClientID = "throughline"
	return kcfg
}

// KafkaCluster is the embedded broker itself, for tests that inject faults
// into it (kfake's ControlKey).
func (a *App) KafkaCluster() *kfake.Cluster { return a.broker.Cluster() }

// ClickHouseHTTPAddr is where ClickHouse's HTTP interface listens, or ""
// when it is off.
func (a *App) ClickHouseHTTPAddr() string {
	if a.chhttp == nil {
		return ""
	}
	return a.chhttp.Addr()
}

// Meter is the process's meter: what it records is on the collector's /metrics.
func (a *App) Meter() metric.Meter { return a.tel.Meter }

// AggregatesAsOf is when the report aggregates' last round started: every
// entity row loaded before it shows in the reports.
func (a *App) AggregatesAsOf() time.Time { return a.refresher.AsOf() }

// Log is the process logger.
func (a *App) Log() zerolog.Logger { return a.log }

// Run serves until ctx is done, then shuts down in dependency order, each
// stage waiting for the one before it to return:
//  1. the collector stops accepting and answers the requests it holds
//     (every 202 it gave was acknowledged by Kafka), then its producer
//     flushes;
//  2. the stitcher stops between transactions (a transaction it had begun
//     is aborted and redone from Kafka at the next start);
//  3. the loader flushes what it buffered to ClickHouse and commits;
//  4. the alerter, the refresher of the report aggregates, the console and
//     the ClickHouse HTTP interface stop;
//  5. the engine and the broker close (a.close).
//
// Whatever is in Kafka and not yet loaded is loaded at the next start:
// nothing the collector accepted is lost (TestShutdownLosesNothingAccepted).
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	g, gctx := errgroup.WithContext(ctx)
	// stage runs fn under its own context; stop cancels it and waits for fn
	// to return.
	stage := func(fn func(context.Context) error) (stop func()) {
		sctx, cancel := context.WithCancel(context.WithoutCancel(gctx))
		done := make(chan struct{})
		g.Go(func() error {
			defer close(done)
			return fn(sctx)
		})
		return func() { cancel(); <-done }
	}
	stopCollector := stage(a.collector.Run)
	stopStitcher := stage(a.stitcher.Run)
	stopLoader := stage(a.loader.Run)
	stopAlerter := stage(a.alerter.Run)
	stopRefresher := stage(a.refresher.Run)
	stopConsole := stage(a.console.Run)
	stopCHHTTP := func() {}
	if a.chhttp != nil {
		stopCHHTTP = stage(a.chhttp.Run)
	}
	g.Go(func() error {
		<-gctx.Done()
		stopCollector()
		flushCtx, cancel := context.WithTimeout(context.Background(), a.cfg.Shutdown)
		defer cancel()
		if err := a.producer.Flush(flushCtx); err != nil {
			a.log.Error().Err(err).Msg("flushing producer at shutdown")
		}
		stopStitcher()
		stopLoader()
		stopAlerter()
		stopRefresher()
		stopConsole()
		stopCHHTTP()
		return nil
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (a *App) close() {
	if a.producer != nil {
		a.producer.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
	if a.broker != nil {
		a.broker.Close()
	}
	if a.tel != nil {
		a.tel.Shutdown(context.Background())
	}
}
