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

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/refresher"
)

func main() { cli.Serve(service()) }

func service() cli.Service {
	var (
		cfg         refresher.Config
		kcfg        kafka.Config
		ch          chstore.Config
		addr        string
		tenantsFile string
	)
	return cli.Service{
		Name: "refresher",
		Flags: func(fs *flag.FlagSet) {
			cfg.RegisterFlags(fs)
			kcfg.RegisterFlags(fs, "throughline-refresher")
			ch.RegisterFlags(fs)
			flagenv.String(fs, &addr, "refresher-http-addr", ":8085", "address of /healthz, /readyz and /metrics (empty: none)")
			flagenv.String(fs, &tenantsFile, "tenants-file", "tenants.yaml", "YAML file of tenants and accounts (the time zones days are cut in)")
		},
		Check: func() error {
			kcfg.Resolve()
			return errors.Join(cfg.Validate(), kcfg.Validate(), ch.Validate())
		},
		Addr: &addr, AddrFlag: "refresher-http-addr",
		Start: func(ctx context.Context, env *cli.Env) (func(context.Context) error, error) {
			ten, err := tenants.Load(tenantsFile)
			if err != nil {
				return nil, fmt.Errorf("tenants-file: %w", err)
			}
			store, err := chstore.Open(ctx, ch)
			if err != nil {
				return nil, err
			}
			env.CloseOnStop("clickhouse store", store)
			r, err := refresher.New(cfg, refresher.Deps{Tel: env.Tel, Store: store, Database: ch.Database, Zones: ten.Zone, Kafka: kcfg})
			if err != nil {
				return nil, err
			}
			// The group's lease is a topic's partitions.
			if err := kcfg.CreateTopics(ctx); err != nil {
				return nil, err
			}
			env.Health.AddCheck("clickhouse", store.Ping)
			return r.Run, nil
		},
	}
}
