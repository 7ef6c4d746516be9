package app

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/throughline/throughline/pkg/chhttp"
	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/services/alerter"
	"github.com/throughline/throughline/services/collector"
	"github.com/throughline/throughline/services/console"
	"github.com/throughline/throughline/services/loader"
	"github.com/throughline/throughline/services/refresher"
	"github.com/throughline/throughline/services/stitcher"
)

// Config of the all-in-one process.
type Config struct {
	DataDir   string
	KafkaPort int
	// KafkaHost is where the embedded broker listens: loopback unless
	// outside clients need it, and then only with SASL (KafkaSASL*).
	KafkaHost                        string
	KafkaSASLUser, KafkaSASLPassword string
	SyncWrites                       bool
	TenantsFile                      string
	Log                              cli.LogFlags
	Shutdown                         time.Duration

	Collector collector.Config
	Stitcher  stitcher.Config
	Loader    loader.Config
	Console   console.Config
	Alerter   alerter.Config
	Refresher refresher.Config
	// ClickHouseHTTP is ClickHouse's HTTP interface over the embedded engine.
	ClickHouseHTTP chhttp.Config
}

// RegisterFlags registers every setting of the process on fs, each with its
// default: every service's RegisterFlags sets its defaults, so nothing needs
// a DefaultConfig first.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	flagenv.String(fs, &c.DataDir, "data-dir", "data", "where the embedded Kafka and ClickHouse keep their data")
	flagenv.Int(fs, &c.KafkaPort, "kafka-port", 9092, "port of the embedded Kafka broker")
	flagenv.String(fs, &c.KafkaHost, "kafka-host", "127.0.0.1", "address the embedded Kafka broker listens on (beyond loopback it needs --kafka-sasl-user and --kafka-sasl-password)")
	flagenv.String(fs, &c.KafkaSASLUser, "kafka-sasl-user", "", "SASL/PLAIN user of the embedded broker (empty: no SASL, loopback only)")
	flagenv.Secret(fs, &c.KafkaSASLPassword, "kafka-sasl-password", "SASL/PLAIN password of the embedded broker (16+ characters)")
	flagenv.Bool(fs, &c.SyncWrites, "kafka-sync-writes", false, "fsync every produced batch of the embedded broker (survives power loss, slower)")
	flagenv.String(fs, &c.TenantsFile, "tenants-file", "", "tenants → accounts → keys (default: <data-dir>/tenants.yaml; required, see deploy/tenants.example.yaml; \"throughline demo\" writes a demo network)")
	c.Log.RegisterFlags(fs, true)
	flagenv.Duration(fs, &c.Shutdown, "shutdown-timeout", 15*time.Second, "how long a graceful shutdown may take")
	c.Collector.RegisterFlags(fs)
	c.Stitcher.RegisterFlags(fs)
	c.Loader.RegisterFlags(fs)
	c.Console.RegisterFlags(fs)
	c.Alerter.RegisterFlags(fs)
	c.Refresher.RegisterFlags(fs)
	c.ClickHouseHTTP.RegisterFlags(fs)
}

// WithDefaults fills the settings whose default depends on others (the
// tenants file sits in the data directory unless named); the flags' own
// defaults are set by RegisterFlags. Start applies it; callers that read
// such a setting before Start apply it first.
func (c Config) WithDefaults() Config {
	if c.TenantsFile == "" && c.DataDir != "" {
		c.TenantsFile = filepath.Join(c.DataDir, "tenants.yaml")
	}
	return c
}

// Validate names the setting that is wrong. It changes nothing.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data-dir: required")
	}
	if c.KafkaPort <= 0 || c.KafkaPort > 65535 {
		return fmt.Errorf("kafka-port: %d is not a port", c.KafkaPort)
	}
	return errors.Join(c.Collector.Validate(), c.Stitcher.Validate(), c.Loader.Validate(), c.Console.Validate(),
		c.Alerter.Validate(), c.Refresher.Validate(), c.ClickHouseHTTP.Validate())
}
