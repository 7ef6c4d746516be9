package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/embedded"
)

// serveKafka is `throughline kafka`: the embedded broker (kfake, its log on
// disk) alone, for services run as separate processes
// (--kafka-brokers HOST:PORT). It listens as the all-in-one's broker does:
// loopback unless told otherwise, and beyond loopback only with SASL.
// The services create the topics they declare, as against any Kafka.
func serveKafka(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("throughline kafka", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		dataDir  string
		cfg      embedded.Config
		logFlags cli.LogFlags
	)
	flagenv.String(fs, &dataDir, "data-dir", "data", "where the broker keeps its log (<data-dir>/kafka)")
	flagenv.Int(fs, &cfg.Port, "kafka-port", 9092, "port the broker listens on")
	flagenv.String(fs, &cfg.Host, "kafka-host", "127.0.0.1", "address the broker listens on (beyond loopback it needs --kafka-sasl-user and --kafka-sasl-password)")
	flagenv.String(fs, &cfg.SASLUser, "kafka-sasl-user", "", "SASL/PLAIN user every client must log in as (empty: no SASL, loopback only)")
	flagenv.Secret(fs, &cfg.SASLPassword, "kafka-sasl-password", "SASL/PLAIN password (16+ characters)")
	flagenv.Bool(fs, &cfg.SyncWrites, "kafka-sync-writes", false, "fsync every produced batch (survives power loss, slower)")
	logFlags.RegisterFlags(fs, true)
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "throughline kafka:", err)
		return 2
	}
	log, err := logFlags.Logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "throughline kafka:", err)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "throughline kafka:", err)
		return 1
	}
	cfg.DataDir = filepath.Join(dataDir, "kafka")
	broker, err := embedded.Start(cfg)
	if err != nil {
		return fail(err)
	}
	defer broker.Close()
	for _, r := range broker.Repaired {
		log.Warn().Str("topic", r.Topic).Int32("partition", r.Partition).Int64("producer_id", r.ProducerID).Int64("from", r.From).
			Msg("the last run was killed with this transaction open: marked aborted")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Serving means answering metadata through the listener, as a client
	// would ask it (with the login, when there is one).
	if err := answersMetadata(ctx, broker.Client()); err != nil {
		return fail(err)
	}
	log.Info().Str("addr", broker.Addr()).Bool("sasl", cfg.SASLUser != "").Str("data_dir", cfg.DataDir).Msg("kafka broker listening")
	sasl := ""
	if cfg.SASLUser != "" {
		sasl = fmt.Sprintf(", SASL/PLAIN as %s", cfg.SASLUser)
	}
	fmt.Fprintf(stdout, "\nThroughline's embedded Kafka (data in %s)\n\n  kafka  %s   (--kafka-brokers %s%s; kcat -b %s -L)\n\n",
		cfg.DataDir, broker.Addr(), broker.Addr(), sasl, broker.Addr())
	<-ctx.Done()
	log.Info().Msg("kafka broker stopping")
	return 0
}

// answersMetadata asks the broker for its metadata over its own listener.
func answersMetadata(ctx context.Context, kcfg kafka.Config) error {
	cl, err := kgo.NewClient(kcfg.ConnOpts()...)
	if err != nil {
		return fmt.Errorf("creating a client of the broker: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
		return fmt.Errorf("the broker does not answer metadata: %w", err)
	}
	return nil
}
