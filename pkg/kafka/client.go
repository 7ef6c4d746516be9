package kafka

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// Config is how a service reaches Kafka.
type Config struct {
	Brokers     []string // host:port of seed brokers
	ClientID    string
	Replication int16 // replication factor for created topics (1 for kfake)
	// SASLUser and SASLPassword log in with SASL/PLAIN when the user is
	// set (the embedded broker when it listens beyond loopback, or a
	// Kafka cluster that wants it; use TLS to the cluster as well).
	SASLUser, SASLPassword string

	brokersFlag *string
	replFlag    *int
}

// Validate names the setting that is wrong.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka brokers: at least one host:port is required")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("kafka brokers: %q is not host:port", b)
		}
	}
	if c.Replication < 1 {
		return errors.New("kafka replication: must be at least 1")
	}
	return nil
}

// ParseBrokers splits a comma-separated broker list.
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// BaseOpts are the options every client uses.
func BaseOpts(c Config, log zerolog.Logger) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.ClientID(c.ClientID),
		kgo.WithLogger(Logger{L: log.With().Str("component", "kafka").Logger()}),
	}, c.ConnOpts()...)
}

// ConnOpts are what a client needs to connect at all: the seed brokers and,
// when configured, the SASL login. Clients outside BaseOpts use them too.
func (c Config) ConnOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.SASLUser != "" {
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()))
	}
	return opts
}

// ProducerOpts are the options of a producer whose acknowledged writes must
// survive: acks from all in-sync replicas, idempotence, and a bound on what is
// buffered so a slow broker pushes back instead of growing memory.
func ProducerOpts(maxBuffered int) []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.MaxBufferedRecords(maxBuffered),
		kgo.RecordDeliveryTimeout(30 * time.Second),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
	}
}

// RegisterFlags registers the Kafka settings on fs (env: THROUGHLINE_KAFKA_*).
func (c *Config) RegisterFlags(fs *flag.FlagSet, clientID string) {
	var brokers string
	flagenv.String(fs, &brokers, "kafka-brokers", "localhost:9092", "comma-separated Kafka seed brokers")
	c.brokersFlag = &brokers
	flagenv.String(fs, &c.ClientID, "kafka-client-id", clientID, "Kafka client id")
	var repl int
	flagenv.Int(fs, &repl, "kafka-replication", 1, "replication factor of topics created at start")
	c.replFlag = &repl
	flagenv.String(fs, &c.SASLUser, "kafka-sasl-user", "", "SASL/PLAIN user (empty: no SASL)")
	flagenv.Secret(fs, &c.SASLPassword, "kafka-sasl-password", "SASL/PLAIN password")
}

// Resolve copies parsed flag values into the config.
func (c *Config) Resolve() {
	if c.brokersFlag != nil {
		c.Brokers = ParseBrokers(*c.brokersFlag)
	}
	if c.replFlag != nil {
		c.Replication = int16(*c.replFlag)
	}
}
