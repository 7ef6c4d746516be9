// Command collector runs Throughline's HTTP collector on its own, against a
// Kafka cluster (or the embedded broker of another process). Every flag can
// also be set by its THROUGHLINE_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector"
)

func main() { cli.Serve(service()) }

// service is the collector binary: it serves (its own /healthz, /readyz and
// /metrics among its routes) until the signal, then drains the server and
// flushes the producer.
func service() cli.Service {
	var (
		cfg         collector.Config
		kcfg        kafka.Config
		tenantsFile string
	)
	return cli.Service{
		Name: "collector",
		Flags: func(fs *flag.FlagSet) {
			cfg.RegisterFlags(fs)
			kcfg.RegisterFlags(fs, "throughline-collector")
			flagenv.String(fs, &tenantsFile, "tenants-file", "tenants.yaml", "YAML file of tenants, accounts and write keys")
		},
		Check: func() error {
			kcfg.Resolve()
			return errors.Join(kcfg.Validate(), cfg.Validate())
		},
		Start: func(ctx context.Context, env *cli.Env) (func(context.Context) error, error) {
			tcfg, err := tenants.Load(tenantsFile)
			if err != nil {
				return nil, err
			}
			opts := append(kafka.BaseOpts(kcfg, env.Log), kafka.ProducerOpts(cfg.MaxInFlightRecords)...)
			producer, err := kgo.NewClient(opts...)
			if err != nil {
				return nil, fmt.Errorf("creating kafka producer: %w", err)
			}
			env.OnStop(func(context.Context) error {
				// Whatever is still buffered was acknowledged to no one yet,
				// but it was produced: give it the shutdown deadline to
				// reach Kafka.
				fctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
				defer cancel()
				if err := producer.Flush(fctx); err != nil {
					env.Log.Warn().Err(err).Msg("flushing producer at shutdown failed")
				}
				producer.Close()
				return nil
			})
			if err := kcfg.CreateTopics(ctx); err != nil {
				return nil, err
			}
			c, err := collector.New(cfg, collector.Deps{Tel: env.Tel, Producer: producer, Keys: tenants.NewKeys(tcfg), Tenants: tcfg})
			if err != nil {
				return nil, err
			}
			return c.Run, nil
		},
	}
}
