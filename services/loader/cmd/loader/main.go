// Command loader runs the loader alone, for the distributed mode: it consumes
// Throughline's topics from Kafka and loads them into ClickHouse exactly
// once. It applies the ClickHouse migrations and creates the topics at start,
// serves /healthz, /readyz and /metrics, and on SIGINT/SIGTERM flushes what
// it buffered and commits before exiting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/schemas"
	"github.com/throughline/throughline/services/loader"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

type config struct {
	loader     loader.Config
	kafka      kafka.Config
	clickhouse chstore.Config
	addr       string
	logs       cli.LogFlags
	tenants    string // optional: per-tenant dedup windows
}

func (c *config) register(fs *flag.FlagSet) {
	c.loader.RegisterFlags(fs)
	c.kafka.RegisterFlags(fs, "throughline-loader")
	// The database flag is the loader's; the store's other flags are added here.
	ch := flag.NewFlagSet("clickhouse", flag.ContinueOnError)
	c.clickhouse.RegisterFlags(ch)
	ch.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) == nil {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	flagenv.String(fs, &c.addr, "loader-http-addr", ":8082", "address of /healthz, /readyz and /metrics")
	flagenv.String(fs, &c.tenants, "tenants-file", "", "tenants file whose dedup_window settings override --loader-dedup-window per tenant (optional)")
	c.logs.RegisterFlags(fs, false)
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("loader", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.register(fs)
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "loader:", err)
		return 2
	}
	cfg.kafka.Resolve()
	cfg.clickhouse.Database = cfg.loader.Database
	if err := errors.Join(cfg.loader.Validate(), cfg.kafka.Validate(), cfg.clickhouse.Validate()); err != nil {
		fmt.Fprintln(stderr, "loader:", err)
		return 2
	}
	log, err := cfg.logs.Logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "loader:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg("loader failed")
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg config, log zerolog.Logger) error {
	ctx, stopCtx := context.WithCancel(ctx)
	defer stopCtx()
	tel, err := telemetry.New(log, "loader")
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.Background())
	store, err := chstore.Open(ctx, cfg.clickhouse)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := schemas.Migrate(ctx, store, cfg.loader.Database); err != nil {
		return err
	}
	if err := ensureTopics(ctx, cfg.kafka, log); err != nil {
		return err
	}
	deps := loader.Deps{Tel: tel, Store: store, Kafka: cfg.kafka}
	if cfg.tenants != "" {
		tc, err := tenants.Load(cfg.tenants)
		if err != nil {
			return err
		}
		deps.DedupWindow = tc.DedupWindow
	}
	l, err := loader.New(cfg.loader, deps)
	if err != nil {
		return err
	}

	var health telemetry.Health
	health.AddCheck("clickhouse", store.Ping)
	mux := http.NewServeMux()
	tel.Mount(mux, &health)
	srv := &http.Server{Addr: cfg.addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 1)
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srvErr <- fmt.Errorf("serving %s: %w", cfg.addr, err)
			stopCtx()
		}
		close(srvErr)
	}()
	runErr := l.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return errors.Join(runErr, <-srvErr)
}

func ensureTopics(ctx context.Context, kcfg kafka.Config, log zerolog.Logger) error {
	cl, err := kgo.NewClient(kafka.BaseOpts(kcfg, log)...)
	if err != nil {
		return fmt.Errorf("creating admin client: %w", err)
	}
	defer cl.Close()
	return kafka.EnsureTopics(ctx, kadm.NewClient(cl), kcfg.Replication, kafka.Topics)
}
