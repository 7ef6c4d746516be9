// Command refresher runs the refresher of the report aggregates on its own,
// for the distributed mode: while it leads its Kafka group (one per
// ClickHouse database) it keeps traffic_daily, leads_daily, leads_hourly
// and spend_daily up to date; run two for a standby. It serves /healthz,
// /readyz and /metrics (throughline.refresher.leader says which one works).
// The loader applies the migrations; the refresher waits for them. Every
// flag can also be set by its THROUGHLINE_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/refresher"
)

func main() {
	cli.Main("refresher", func(ctx context.Context, args []string) error { return run(ctx, args) })
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("refresher", flag.ContinueOnError)
	var (
		cfg         refresher.Config
		kcfg        kafka.Config
		ch          chstore.Config
		addr        string
		tenantsFile string
		logs        cli.LogFlags
	)
	cfg.RegisterFlags(fs)
	kcfg.RegisterFlags(fs, "throughline-refresher")
	ch.RegisterFlags(fs)
	flagenv.String(fs, &addr, "refresher-http-addr", ":8085", "address of /healthz, /readyz and /metrics (empty: none)")
	flagenv.String(fs, &tenantsFile, "tenants-file", "tenants.yaml", "YAML file of tenants and accounts (the time zones days are cut in)")
	logs.RegisterFlags(fs, false)
	if err := flagenv.Parse(fs, args); err != nil {
		return err // -h: flag.ErrHelp, exits 0
	}
	kcfg.Resolve()
	if err := errors.Join(cfg.Validate(), kcfg.Validate(), ch.Validate()); err != nil {
		return err
	}
	log, err := logs.Logger(os.Stderr)
	if err != nil {
		return err
	}
	ten, err := tenants.Load(tenantsFile)
	if err != nil {
		return fmt.Errorf("tenants-file: %w", err)
	}
	tel, err := telemetry.New(log, "refresher")
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(sctx)
	}()
	store, err := chstore.Open(ctx, ch)
	if err != nil {
		return err
	}
	defer store.Close()
	r, err := refresher.New(cfg, refresher.Deps{Tel: tel, Store: store, Database: ch.Database, Zones: ten.Zone, Kafka: kcfg})
	if err != nil {
		return err
	}
	if err := ensureTopics(ctx, kcfg); err != nil {
		return err
	}
	if addr != "" {
		mux := http.NewServeMux()
		health := &telemetry.Health{}
		health.AddCheck("clickhouse", store.Ping)
		tel.Mount(mux, health)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("refresher-http-addr: %w", err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("http server failed")
			}
		}()
		defer srv.Close()
	}
	return r.Run(ctx)
}

// ensureTopics creates the declared topics that do not exist yet: the
// group's lease is a topic's partitions.
func ensureTopics(ctx context.Context, kcfg kafka.Config) error {
	cl, err := kgo.NewClient(kcfg.ConnOpts()...)
	if err != nil {
		return fmt.Errorf("creating kafka admin client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return kafka.EnsureTopics(ctx, kadm.NewClient(cl), kcfg.Replication, kafka.Topics)
}
