// Command stitcher runs Throughline's stitcher on its own against a Kafka
// cluster. With --stitcher-replay --stitcher-topic-suffix=.r1 it instead
// reprocesses the raw topic from its start into fresh topics (*.v1.r1) and
// exits; the output is a deterministic function of the raw topic. Every flag
// can also be set by its THROUGHLINE_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/stitcher"
)

func main() { cli.Main("stitcher", run) }

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("stitcher", flag.ContinueOnError)
	var (
		cfg         stitcher.Config
		kcfg        kafka.Config
		metricsAddr string
		tenantsFile string
		logs        cli.LogFlags
	)
	cfg.RegisterFlags(fs)
	kcfg.RegisterFlags(fs, "throughline-stitcher")
	flagenv.String(fs, &metricsAddr, "stitcher-metrics-addr", ":9102", "listen address of /metrics, /healthz, /readyz (empty: none)")
	flagenv.String(fs, &tenantsFile, "stitcher-tenants-file", "", "tenants file: its own_domains are internal referrers, its pii_salt re-keys state written with phones and e-mails in clear (empty: neither)")
	logs.RegisterFlags(fs, false)
	if err := flagenv.Parse(fs, args); err != nil {
		return err // -h: flag.ErrHelp, exits 0
	}
	kcfg.Resolve()
	if cfg.Replay {
		cfg = cfg.ForReplay(cfg.TopicSuffix)
	}
	if err := errors.Join(kcfg.Validate(), cfg.Validate()); err != nil {
		return err
	}
	log, err := logs.Logger(os.Stderr)
	if err != nil {
		return err
	}
	tel, err := telemetry.New(log, "stitcher")
	if err != nil {
		return err
	}
	if err := ensureTopics(ctx, cfg, kcfg); err != nil {
		return err
	}
	deps := stitcher.Deps{Tel: tel, Kafka: kcfg}
	if tenantsFile != "" {
		tc, err := tenants.Load(tenantsFile)
		if err != nil {
			return fmt.Errorf("stitcher-tenants-file: %w", err)
		}
		deps.Tenants = tc
	}
	s, err := stitcher.New(cfg, deps)
	if err != nil {
		return err
	}
	if metricsAddr != "" {
		mux := http.NewServeMux()
		tel.Mount(mux, &telemetry.Health{})
		srv := &http.Server{Addr: metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("metrics server failed")
			}
		}()
		defer srv.Close()
	}
	runErr := s.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(runErr, tel.Shutdown(sctx))
}

// ensureTopics creates the raw topic and the configuration's output topics.
func ensureTopics(ctx context.Context, cfg stitcher.Config, kcfg kafka.Config) error {
	cl, err := kgo.NewClient(kcfg.ConnOpts()...)
	if err != nil {
		return fmt.Errorf("creating kafka admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, adm, kcfg.Replication, kafka.Topics); err != nil {
		return err
	}
	td, err := adm.ListTopics(ctx, cfg.InputTopic)
	if err != nil {
		return fmt.Errorf("listing topic %s: %w", cfg.InputTopic, err)
	}
	return kafka.EnsureTopics(ctx, adm, kcfg.Replication, cfg.OutputTopics(int32(len(td[cfg.InputTopic].Partitions))))
}
