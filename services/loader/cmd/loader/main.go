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
	"io"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/schemas"
	"github.com/throughline/throughline/services/loader"
)

func main() { cli.Serve(service()) }

// run runs the binary as main does and gives its exit status.
func run(args []string, stderr io.Writer) int {
	s := service()
	return s.Exit(cli.Run(context.Background(), s, args, stderr), stderr)
}

type config struct {
	loader     loader.Config
	kafka      kafka.Config
	clickhouse chstore.Config
	addr       string
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
}

func service() cli.Service {
	var cfg config
	return cli.Service{
		Name:  "loader",
		Flags: cfg.register,
		Check: func() error {
			cfg.kafka.Resolve()
			cfg.clickhouse.Database = cfg.loader.Database
			return errors.Join(cfg.loader.Validate(), cfg.kafka.Validate(), cfg.clickhouse.Validate())
		},
		Addr: &cfg.addr, AddrFlag: "loader-http-addr",
		UsageExit: 2, FailedMsg: "loader failed",
		Start: func(ctx context.Context, env *cli.Env) (func(context.Context) error, error) {
			store, err := chstore.Open(ctx, cfg.clickhouse)
			if err != nil {
				return nil, err
			}
			env.CloseOnStop("clickhouse store", store)
			if err := schemas.Migrate(ctx, store, cfg.loader.Database); err != nil {
				return nil, err
			}
			if err := cfg.kafka.CreateTopics(ctx); err != nil {
				return nil, err
			}
			deps := loader.Deps{Tel: env.Tel, Store: store, Kafka: cfg.kafka}
			if cfg.tenants != "" {
				tc, err := tenants.Load(cfg.tenants)
				if err != nil {
					return nil, err
				}
				deps.DedupWindow = tc.DedupWindow
			}
			l, err := loader.New(cfg.loader, deps)
			if err != nil {
				return nil, err
			}
			env.Health.AddCheck("clickhouse", store.Ping)
			return l.Run, nil
		},
	}
}
