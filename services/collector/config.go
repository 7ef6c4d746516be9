package collector

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"time"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/services/collector/internal/clientip"
	"github.com/throughline/throughline/services/collector/internal/publish"
	"github.com/throughline/throughline/services/collector/internal/ratelimit"
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
	// TenantBodyShare and KeyBodyShare are the fractions of
	// MaxInFlightBytes that the bodies being read of one tenant, and of one
	// key, may hold; more get 429. Bodies are charged as their bytes arrive.
	// All bodies together may hold 7/8 of it: the rest is kept for records,
	// so what is refused can still be dead-lettered.
	TenantBodyShare float64
	KeyBodyShare    float64
	// BodyReadTimeout bounds reading one request body; BodyIdleTimeout
	// bounds a pause in it. A body late on either is answered 408.
	BodyReadTimeout time.Duration
	BodyIdleTimeout time.Duration

	// DeadLetterRate bounds the dead letters one account's refused input
	// may write; over it they are counted, not written. PerSecond 0: no limit.
	DeadLetterRate ratelimit.Limit

	// LeaseClientRate bounds the new number leases (GET /v1/numbers for a
	// client id that holds no number) one client address (an IPv6 /64) may
	// take, and LeaseKeyRate those one key may take: the site key is public,
	// and without a bound one script could lease every number of a pool
	// and leave real visitors sharing the attacker's. Extending a held
	// lease is not limited. Over either: 429. PerSecond 0: no limit.
	LeaseClientRate ratelimit.Limit
	LeaseKeyRate    ratelimit.Limit
	MaxBatchEvents  int // events in one /v1/events request

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
		// Loopback until told otherwise: an operator exposes the collector
		// on purpose (--collector-addr :8080; compose and k8s set it).
		Addr:                "127.0.0.1:8080",
		MaxInFlightRecords:  20_000,
		MaxInFlightBytes:    128 << 20,
		MaxBodyBytes:        1 << 20,
		TenantBodyShare:     0.25,
		KeyBodyShare:        0.125,
		BodyReadTimeout:     30 * time.Second,
		BodyIdleTimeout:     10 * time.Second,
		DeadLetterRate:      ratelimit.Limit{PerSecond: 20, Burst: 200},
		LeaseClientRate:     ratelimit.Limit{PerSecond: 1.0 / 60, Burst: 10},
		LeaseKeyRate:        ratelimit.Limit{PerSecond: 10, Burst: 100},
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
	flagenv.Float64(fs, &c.TenantBodyShare, "collector-tenant-body-share", d.TenantBodyShare,
		"fraction of collector-max-inflight-bytes one tenant's request bodies may hold (429 above)")
	flagenv.Float64(fs, &c.KeyBodyShare, "collector-key-body-share", d.KeyBodyShare,
		"fraction of collector-max-inflight-bytes one key's request bodies may hold (429 above)")
	flagenv.Duration(fs, &c.BodyReadTimeout, "collector-body-read-timeout", d.BodyReadTimeout,
		"longest a request body may take to arrive (408 after)")
	flagenv.Duration(fs, &c.BodyIdleTimeout, "collector-body-idle-timeout", d.BodyIdleTimeout,
		"longest pause within a request body (408 after)")
	flagenv.Float64(fs, &c.DeadLetterRate.PerSecond, "collector-dead-letter-rate", d.DeadLetterRate.PerSecond,
		"dead letters per second one account may write (0: no limit)")
	flagenv.Int(fs, &c.DeadLetterRate.Burst, "collector-dead-letter-burst", d.DeadLetterRate.Burst,
		"dead letters one account may write at once above collector-dead-letter-rate")
	flagenv.Float64(fs, &c.LeaseClientRate.PerSecond, "collector-lease-client-rate", d.LeaseClientRate.PerSecond,
		"new number leases per second one client address (IPv6: /64) may take (0: no limit)")
	flagenv.Int(fs, &c.LeaseClientRate.Burst, "collector-lease-client-burst", d.LeaseClientRate.Burst,
		"new number leases one client address may take at once")
	flagenv.Float64(fs, &c.LeaseKeyRate.PerSecond, "collector-lease-key-rate", d.LeaseKeyRate.PerSecond,
		"new number leases per second one site key may take (0: no limit)")
	flagenv.Int(fs, &c.LeaseKeyRate.Burst, "collector-lease-key-burst", d.LeaseKeyRate.Burst,
		"new number leases one site key may take at once")
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

// shares are the body shares of the in-flight budget, in bytes.
func (c Config) shares() publish.Shares {
	return publish.Shares{
		Bodies: int64(c.MaxInFlightBytes) / 8 * 7,
		Tenant: int64(float64(c.MaxInFlightBytes) * c.TenantBodyShare),
		Key:    c.keyBodyBytes(),
	}
}

func (c Config) keyBodyBytes() int64 { return int64(float64(c.MaxInFlightBytes) * c.KeyBodyShare) }

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
	case !(c.TenantBodyShare > 0 && c.TenantBodyShare <= 1):
		return errors.New("collector-tenant-body-share: must be above 0 and at most 1")
	case !(c.KeyBodyShare > 0 && c.KeyBodyShare <= c.TenantBodyShare):
		return errors.New("collector-key-body-share: must be above 0 and at most collector-tenant-body-share")
	case c.keyBodyBytes() < int64(c.MaxBodyBytes):
		return fmt.Errorf("collector-max-inflight-bytes: x collector-key-body-share must hold one body of collector-max-body-bytes (at least %d)",
			int64(math.Ceil(float64(c.MaxBodyBytes)/c.KeyBodyShare)))
	case c.DeadLetterRate.PerSecond < 0 || c.DeadLetterRate.Burst < 0:
		return errors.New("collector-dead-letter-rate and collector-dead-letter-burst: must not be negative")
	case c.LeaseClientRate.PerSecond < 0 || c.LeaseClientRate.Burst < 0:
		return errors.New("collector-lease-client-rate and collector-lease-client-burst: must not be negative")
	case c.LeaseKeyRate.PerSecond < 0 || c.LeaseKeyRate.Burst < 0:
		return errors.New("collector-lease-key-rate and collector-lease-key-burst: must not be negative")
	case c.BodyReadTimeout <= 0 || c.BodyIdleTimeout <= 0:
		return errors.New("collector-body-read-timeout and collector-body-idle-timeout: must be positive")
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

// RedriveConfig enables the re-drive endpoint.
type RedriveConfig struct {
	// Token authorises POST /v1/internal/redrive (Authorization: Bearer).
	// Empty turns the endpoint off (404).
	Token string
}

func (c *RedriveConfig) registerFlags(fs *flag.FlagSet) {
	flagenv.Secret(fs, &c.Token, "collector-redrive-token",
		"Bearer token of POST /v1/internal/redrive, used by 'throughline redrive' (empty: endpoint off)")
}

func (c RedriveConfig) validate() error {
	if c.Token != "" && len(c.Token) < 16 {
		return errors.New("collector-redrive-token: shorter than 16 characters")
	}
	return nil
}
