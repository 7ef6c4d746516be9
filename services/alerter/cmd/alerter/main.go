// Command alerter runs Throughline's alerter on its own against a Kafka
// cluster: it evaluates the alert rules on the live streams, notifies the
// tenants' webhooks, Telegram chats and Slack channels, and serves
// GET /v1/alerts with /healthz, /readyz and /metrics. Every flag can also be
// set by its THROUGHLINE_* environment variable.
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

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/alerter"
)

func main() {
	cli.Main("alerter", func(ctx context.Context, args []string) error { return run(ctx, args, nil) })
}

// run starts the alerter; ready, when set, gets the HTTP address once listening.
func run(ctx context.Context, args []string, ready func(addr string)) error {
	fs := flag.NewFlagSet("alerter", flag.ContinueOnError)
	var (
		cfg         alerter.Config
		kcfg        kafka.Config
		addr        string
		tenantsFile string
		logs        cli.LogFlags
	)
	cfg.RegisterFlags(fs)
	kcfg.RegisterFlags(fs, "throughline-alerter")
	flagenv.String(fs, &addr, "alerter-http-addr", ":8084", "address of GET /v1/alerts, /healthz, /readyz and /metrics (empty: none)")
	flagenv.String(fs, &tenantsFile, "tenants-file", "tenants.yaml", "YAML file of tenants and accounts (time zones, business hours)")
	logs.RegisterFlags(fs, false)
	if err := flagenv.Parse(fs, args); err != nil {
		return err // -h: flag.ErrHelp, exits 0
	}
	kcfg.Resolve()
	if err := errors.Join(kcfg.Validate(), cfg.Validate()); err != nil {
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
	tel, err := telemetry.New(log, "alerter")
	if err != nil {
		return err
	}
	a, err := alerter.New(cfg, alerter.Deps{Tel: tel, Kafka: kcfg, Tenants: ten})
	if err != nil {
		return err
	}
	if err := ensureTopics(ctx, kcfg); err != nil {
		return err
	}
	if addr != "" {
		mux := http.NewServeMux()
		health := &telemetry.Health{}
		health.AddCheck("alerter", a.Ready)
		tel.Mount(mux, health)
		mux.Handle("GET /v1/alerts", a.Handler())
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("alerter-http-addr: %w", err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("http server failed")
			}
		}()
		defer srv.Close()
		if ready != nil {
			ready(ln.Addr().String())
		}
	}
	runErr := a.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(runErr, tel.Shutdown(sctx))
}

// ensureTopics creates the declared topics that do not exist yet (the alerts
// topic among them).
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
