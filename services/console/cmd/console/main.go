// Command console runs Throughline's query service on its own, against a
// ClickHouse server or an embedded engine data directory that no other
// process has open.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	var cfg console.Config
	var store chstore.Config
	var tenantsFile, liveBrokers string
	var logs cli.LogFlags
	cfg.RegisterFlags(fs)
	flagenv.String(fs, &tenantsFile, "tenants-file", "", "tenants file: read tokens, time zones, margins of the report API (empty: reports only on an open console, in UTC)")
	flagenv.String(fs, &liveBrokers, "dashboard-kafka-brokers", "", "comma-separated Kafka brokers the dashboard's live lead view reads the leads topic from (empty: no live view)")
	store.RegisterFlags(fs)
	logs.RegisterFlags(fs, false)
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "console:", err)
		return 2
	}
	if err := errors.Join(cfg.Validate(), store.Validate()); err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		return 2
	}
	log, err := logs.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "console:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var tcfg *tenants.Config
	if tenantsFile != "" {
		if tcfg, err = tenants.Load(tenantsFile); err != nil {
			fmt.Fprintln(os.Stderr, "console:", err)
			return 2
		}
	}
	var live *kafka.Config
	if liveBrokers != "" {
		live = &kafka.Config{Brokers: kafka.ParseBrokers(liveBrokers), ClientID: "throughline-console", Replication: 1}
		if err := live.Validate(); err != nil {
			fmt.Fprintln(os.Stderr, "console: dashboard-kafka-brokers:", err)
			return 2
		}
	}
	if err := serve(ctx, cfg, store, tcfg, live, log); err != nil {
		log.Error().Err(err).Msg("console exited")
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg console.Config, scfg chstore.Config, tcfg *tenants.Config, live *kafka.Config, log zerolog.Logger) error {
	tel, err := telemetry.New(log, "console")
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.Background())
	store, err := chstore.Open(ctx, scfg)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := console.New(cfg, console.Deps{Tel: tel, Store: store, Tenants: tcfg, Database: scfg.Database, Kafka: live})
	if err != nil {
		return err
	}
	return c.Run(ctx)
}
