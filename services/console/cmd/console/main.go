// Command console runs Throughline's query service on its own, against a
// ClickHouse server or an embedded engine data directory that no other
// process has open. It serves its own /healthz, /readyz and /metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console"
)

func main() { cli.Serve(service()) }

func service() cli.Service {
	var (
		cfg                      console.Config
		store                    chstore.Config
		tenantsFile, liveBrokers string
		tcfg                     *tenants.Config
		live                     *kafka.Config
	)
	return cli.Service{
		Name: "console",
		Flags: func(fs *flag.FlagSet) {
			cfg.RegisterFlags(fs)
			flagenv.String(fs, &tenantsFile, "tenants-file", "", "tenants file: read tokens, time zones, margins of the report API (empty: reports only on an open console, in UTC)")
			flagenv.String(fs, &liveBrokers, "dashboard-kafka-brokers", "", "comma-separated Kafka brokers the dashboard's live lead view reads the leads topic from (empty: no live view)")
			store.RegisterFlags(fs)
		},
		Check: func() error {
			if err := errors.Join(cfg.Validate(), store.Validate()); err != nil {
				return err
			}
			if tenantsFile != "" {
				var err error
				if tcfg, err = tenants.Load(tenantsFile); err != nil {
					return err
				}
			}
			if liveBrokers != "" {
				live = &kafka.Config{Brokers: kafka.ParseBrokers(liveBrokers), ClientID: "throughline-console", Replication: 1}
				if err := live.Validate(); err != nil {
					return fmt.Errorf("dashboard-kafka-brokers: %w", err)
				}
			}
			return nil
		},
		UsageExit: 2, FailedMsg: "console exited",
		Start: func(ctx context.Context, env *cli.Env) (func(context.Context) error, error) {
			st, err := chstore.Open(ctx, store)
			if err != nil {
				return nil, err
			}
			env.CloseOnStop("clickhouse store", st)
			c, err := console.New(cfg, console.Deps{Tel: env.Tel, Store: st, Tenants: tcfg, Database: store.Database, Kafka: live})
			if err != nil {
				return nil, err
			}
			return c.Run, nil
		},
	}
}
