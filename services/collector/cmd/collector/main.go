// Command collector runs Throughline's HTTP collector on its own, against a
// Kafka cluster (or the embedded broker of another process). Every flag can
// also be set by its THROUGHLINE_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector"
)

func main() { cli.Main("collector", run) }

// run serves until ctx is done, then drains the server and flushes the producer.
func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	var (
		cfg         collector.Config
		kcfg        kafka.Config
		tenantsFile string
		logs        cli.LogFlags
	)
	cfg.RegisterFlags(fs)
	kcfg.RegisterFlags(fs, "throughline-collector")
	flagenv.String(fs, &tenantsFile, "tenants-file", "tenants.yaml", "YAML file of tenants, accounts and write keys")
	logs.RegisterFlags(fs, false)
	if err := flagenv.Parse(fs, args); err != nil {
		return err // -h: flag.ErrHelp, exits 0
	}
	kcfg.Resolve()
	if err := kcfg.Validate(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := logs.Logger(telemetry.Stderr)
	if err != nil {
		return err
	}
	tcfg, err := tenants.Load(tenantsFile)
	if err != nil {
		return err
	}
	tel, err := telemetry.New(log, "collector")
	if err != nil {
		return err
	}
	opts := append(kafka.BaseOpts(kcfg, log), kafka.ProducerOpts(cfg.MaxInFlightRecords)...)
	producer, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating kafka producer: %w", err)
	}
	defer producer.Close()
	setup, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = kafka.EnsureTopics(setup, kadm.NewClient(producer), kcfg.Replication, kafka.Topics)
	cancel()
	if err != nil {
		return err
	}
	c, err := collector.New(cfg, collector.Deps{Tel: tel, Producer: producer, Keys: tenants.NewKeys(tcfg), Tenants: tcfg})
	if err != nil {
		return err
	}
	runErr := c.Run(ctx)

	// Whatever is still buffered was acknowledged to no one yet, but it was
	// produced: give it the shutdown deadline to reach Kafka.
	fctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := producer.Flush(fctx); err != nil {
		log.Warn().Err(err).Msg("flushing producer at shutdown failed")
	}
	return errors.Join(runErr, tel.Shutdown(fctx))
}
