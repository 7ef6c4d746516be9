package collector

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/services/collector/internal/clientip"
)

// Config of the collector. DefaultConfig holds every default; RegisterFlags
// exposes each setting as a flag and a THROUGHLINE_COLLECTOR_* variable.
type Config struct {
	Addr string // listen address, host:port

	// MaxInFlightRecords bounds records produced and not yet acknowledged by
	// Kafka. The producer client's buffer (kafka.ProducerOpts) must hold at
	// least this many so producing never blocks.
	MaxInFlightRecords int
	// MaxInFlightBytes bounds request bodies being read plus the records not
	// yet acknowledged. When either bound is reached the collector answers 503.
	MaxInFlightBytes int
	MaxBodyBytes     int // larger /v1/events bodies get 413
	MaxBatchEvents   int // events in one /v1/events request

	PublishTimeout  time.Duration // how long a request waits for Kafka's acknowledgement
	RetryAfter      time.Duration // advised in Retry-After on 503
	ShutdownTimeout time.Duration // graceful shutdown deadline
	// LeaseRestoreTimeout bounds how long a starting collector reads the
	// number leases of the last lease time back from the leases topic (and
	// the raw topic after an upgrade); GET /v1/numbers answers 503 until it
	// has, then serves what it read and reads the rest in the background.
	LeaseRestoreTimeout time.Duration

	// TrustedProxies is a comma-separated list of CIDR prefixes (or single
	// addresses) of proxies whose X-Forwarded-For is believed.
	TrustedProxies string

	// ReplayWindow is how old the signed time of a signed webhook (Mango)
	// may be; older deliveries are replays and are refused (dead-lettered,
	// re-drivable). It is shorter than the event-id dedup window, so a
	// replay inside it lands nowhere twice either.
	ReplayWindow time.Duration

	CRM     CRMConfig     // CRM webhooks' pulls from the CRMs' REST APIs
	Redrive RedriveConfig // the operators' dead-letter re-drive endpoint
	Costs   CostsConfig   // ad cost uploads (/v1/costs)
	Dedup   DedupConfig   // repeated event ids (dedup.go)
	// CostPull pulls ad spend from the platforms daily (costpull.go).
	CostPull CostPullConfig
}

// DefaultConfig is the collector's configuration unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Addr:                ":8080",
		MaxInFlightRecords:  20_000,
		MaxInFlightBytes:    128 << 20,
		MaxBodyBytes:        1 << 20,
		MaxBatchEvents:      1000,
		PublishTimeout:      10 * time.Second,
		RetryAfter:          2 * time.Second,
		ShutdownTimeout:     15 * time.Second,
		LeaseRestoreTimeout: 30 * time.Second,
		TrustedProxies:      "",
		ReplayWindow:        24 * time.Hour,
		CRM:                 DefaultCRMConfig(),
		Costs:               DefaultCostsConfig(),
		Dedup:               DefaultDedupConfig(),
		CostPull:            DefaultCostPullConfig(),
	}
}

// RegisterFlags registers the settings on fs with the defaults of DefaultConfig.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := DefaultConfig()
	flagenv.String(fs, &c.Addr, "collector-addr", d.Addr, "collector HTTP listen address")
	flagenv.Int(fs, &c.MaxInFlightRecords, "collector-max-inflight-records", d.MaxInFlightRecords,
		"records awaiting Kafka acknowledgement before the collector answers 503")
	flagenv.Int(fs, &c.MaxInFlightBytes, "collector-max-inflight-bytes", d.MaxInFlightBytes,
		"bytes of bodies and unacknowledged records before the collector answers 503")
	flagenv.Int(fs, &c.MaxBodyBytes, "collector-max-body-bytes", d.MaxBodyBytes, "largest accepted /v1/events body (413 above)")
	flagenv.Int(fs, &c.MaxBatchEvents, "collector-max-batch-events", d.MaxBatchEvents, "most events in one /v1/events request")
	flagenv.Duration(fs, &c.PublishTimeout, "collector-publish-timeout", d.PublishTimeout,
		"how long a request waits for Kafka to acknowledge its records")
	flagenv.Duration(fs, &c.RetryAfter, "collector-retry-after", d.RetryAfter, "Retry-After advised to senders on 503")
	flagenv.Duration(fs, &c.ShutdownTimeout, "collector-shutdown-timeout", d.ShutdownTimeout, "graceful shutdown deadline")
	flagenv.Duration(fs, &c.LeaseRestoreTimeout, "collector-lease-restore-timeout", d.LeaseRestoreTimeout,
		"how long a starting collector reads the last lease time of number leases back from Kafka before serving /v1/numbers with what it read")
	flagenv.String(fs, &c.TrustedProxies, "collector-trusted-proxies", d.TrustedProxies,
		"comma-separated CIDRs of your reverse proxies, whose X-Forwarded-For is trusted (default: none; e.g. 127.0.0.1/32 for a proxy on this host)")
	flagenv.Duration(fs, &c.ReplayWindow, "collector-replay-window", d.ReplayWindow,
		"how old a signed webhook's signed time may be before it is refused as a replay (0: no window)")
	c.CRM.registerFlags(fs)
	c.Redrive.registerFlags(fs)
	c.Costs.registerFlags(fs)
	c.Dedup.registerFlags(fs)
	c.CostPull.registerFlags(fs)
}

// Validate names the setting that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("collector-addr: required")
	case c.MaxBatchEvents < 1:
		return errors.New("collector-max-batch-events: must be at least 1")
	case c.MaxInFlightRecords < c.MaxBatchEvents:
		return fmt.Errorf("collector-max-inflight-records: must be at least collector-max-batch-events (%d)", c.MaxBatchEvents)
	case c.MaxBodyBytes < 1024:
		return errors.New("collector-max-body-bytes: must be at least 1024")
	case c.MaxInFlightBytes < 4*c.MaxBodyBytes:
		return fmt.Errorf("collector-max-inflight-bytes: must be at least 4 x collector-max-body-bytes (%d)", 4*c.MaxBodyBytes)
	case c.PublishTimeout <= 0:
		return errors.New("collector-publish-timeout: must be positive")
	case c.RetryAfter < time.Second:
		return errors.New("collector-retry-after: must be at least 1s")
	case c.ShutdownTimeout <= 0:
		return errors.New("collector-shutdown-timeout: must be positive")
	case c.ReplayWindow < 0:
		return errors.New("collector-replay-window: must not be negative")
	case c.LeaseRestoreTimeout <= 0:
		return errors.New("collector-lease-restore-timeout: must be positive")
	}
	if _, err := clientip.Parse(c.TrustedProxies); err != nil {
		return fmt.Errorf("collector-trusted-proxies: %w", err)
	}
	if err := c.CRM.validate(); err != nil {
		return err
	}
	if err := c.Costs.validate(); err != nil {
		return err
	}
	if err := c.Dedup.validate(); err != nil {
		return err
	}
	if err := c.CostPull.validate(); err != nil {
		return err
	}
	return c.Redrive.validate()
}
