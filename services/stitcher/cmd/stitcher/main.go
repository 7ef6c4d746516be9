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

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/stitcher"
)

func main() { cli.Serve(service()) }

func service() cli.Service {
	var (
		cfg         stitcher.Config
		kcfg        kafka.Config
		metricsAddr string
		tenantsFile string
	)
	return cli.Service{
		Name: "stitcher",
		Flags: func(fs *flag.FlagSet) {
			cfg.RegisterFlags(fs)
			kcfg.RegisterFlags(fs, "throughline-stitcher")
			flagenv.String(fs, &metricsAddr, "stitcher-metrics-addr", ":9102", "listen address of /metrics, /healthz, /readyz (empty: none)")
			flagenv.String(fs, &tenantsFile, "stitcher-tenants-file", "", "tenants file: its own_domains are internal referrers, its pii_salt re-keys state written with phones and e-mails in clear (empty: neither)")
		},
		Check: func() error {
			kcfg.Resolve()
			if cfg.Replay {
				cfg = cfg.ForReplay(cfg.TopicSuffix)
			}
			return errors.Join(kcfg.Validate(), cfg.Validate())
		},
		Addr: &metricsAddr, AddrFlag: "stitcher-metrics-addr",
		Start: func(ctx context.Context, env *cli.Env) (func(context.Context) error, error) {
			if err := kcfg.Admin(ctx, func(ctx context.Context, adm *kadm.Client) error { return ensureTopics(ctx, adm, cfg, kcfg) }); err != nil {
				return nil, err
			}
			deps := stitcher.Deps{Tel: env.Tel, Kafka: kcfg}
			if tenantsFile != "" {
				tc, err := tenants.Load(tenantsFile)
				if err != nil {
					return nil, fmt.Errorf("stitcher-tenants-file: %w", err)
				}
				deps.Tenants = tc
			}
			s, err := stitcher.New(cfg, deps)
			if err != nil {
				return nil, err
			}
			return s.Run, nil
		},
	}
}

// ensureTopics creates the raw topic and the configuration's output topics.
func ensureTopics(ctx context.Context, adm *kadm.Client, cfg stitcher.Config, kcfg kafka.Config) error {
	if err := kafka.EnsureTopics(ctx, adm, kcfg.Replication, kafka.Topics); err != nil {
		return err
	}
	td, err := adm.ListTopics(ctx, cfg.InputTopic)
	if err != nil {
		return fmt.Errorf("listing topic %s: %w", cfg.InputTopic, err)
	}
	return kafka.EnsureTopics(ctx, adm, kcfg.Replication, cfg.OutputTopics(int32(len(td[cfg.InputTopic].Partitions))))
}
