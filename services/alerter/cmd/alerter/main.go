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

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/alerter"
)

func main() { cli.Serve(service(nil)) }

// service is the alerter binary; ready, when set, gets the HTTP address
// once listening.
func service(ready func(addr string)) cli.Service {
	var (
		cfg         alerter.Config
		kcfg        kafka.Config
		addr        string
		tenantsFile string
	)
	return cli.Service{
		Name: "alerter",
		Flags: func(fs *flag.FlagSet) {
			cfg.RegisterFlags(fs)
			kcfg.RegisterFlags(fs, "throughline-alerter")
			flagenv.String(fs, &addr, "alerter-http-addr", ":8084", "address of GET /v1/alerts, /healthz, /readyz and /metrics (empty: none)")
			flagenv.String(fs, &tenantsFile, "tenants-file", "tenants.yaml", "YAML file of tenants and accounts (time zones, business hours)")
		},
		Check: func() error {
			kcfg.Resolve()
			return errors.Join(kcfg.Validate(), cfg.Validate())
		},
		Addr: &addr, AddrFlag: "alerter-http-addr", Ready: ready,
		Start: func(ctx context.Context, env *cli.Env) (func(context.Context) error, error) {
			ten, err := tenants.Load(tenantsFile)
			if err != nil {
				return nil, fmt.Errorf("tenants-file: %w", err)
			}
			a, err := alerter.New(cfg, alerter.Deps{Tel: env.Tel, Kafka: kcfg, Tenants: ten})
			if err != nil {
				return nil, err
			}
			// The alerts topic among the declared ones.
			if err := kcfg.CreateTopics(ctx); err != nil {
				return nil, err
			}
			env.Health.AddCheck("alerter", a.Ready)
			env.Mux.Handle("GET /v1/alerts", a.Handler())
			return a.Run, nil
		},
	}
}
