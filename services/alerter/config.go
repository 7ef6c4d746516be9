package alerter

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/services/alerter/internal/notify"
)

// Config of the alerter. RegisterFlags holds the defaults; every setting is
// a flag and a THROUGHLINE_ALERTER_* variable.
type Config struct {
	// Group is the Kafka consumer group. Its leader consumes every input
	// partition; other members stand by and take over when it leaves.
	Group string
	// RulesDir holds default.yaml and <tenant>.yaml rule files layered over
	// the embedded defaults (empty: the defaults alone, no targets).
	RulesDir string
	// History is how far back the entity and costs topics are read at
	// start to rebuild baselines (lead rates per hour of week, daily CPL).
	History time.Duration
	// RawHistory is how far back the raw and dead-letter topics are read:
	// enough to know each integration's last event for silence rules.
	RawHistory time.Duration
	// AlertsHistory is how far back the alerts topic is read at start to
	// know which incidents are open (and not notify them again).
	AlertsHistory time.Duration
	// Tick is how often every rule is evaluated; inputs are also evaluated
	// as they arrive, for the accounts they touch.
	Tick time.Duration
	// IdleLag is how far behind the wall clock event time stands when no
	// input partition is behind: the time late entity records (the
	// stitcher's lateness) get before silence is judged.
	IdleLag time.Duration
	// ReplayAge: raw events arriving more than this after they happened,
	// with no fresher ones on their partition for IdleLag, mean a source is
	// sending history; verdicts wait for fresh events. Zero: never withhold.
	ReplayAge time.Duration
	// MaxPollRecords bounds one poll.
	MaxPollRecords int
	// Recent is how long resolved incidents stay in the HTTP view.
	Recent time.Duration
	// Delivery of notifications.
	QueueSize       int
	DeliveryTimeout time.Duration
	MaxAttempts     int
	RetryMin        time.Duration
	RetryMax        time.Duration
	GiveUpAfter     time.Duration
	// DrainTimeout bounds delivering queued notifications at shutdown.
	DrainTimeout time.Duration
}

// RegisterFlags registers the settings on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	flagenv.String(fs, &c.Group, "alerter-group", "throughline-alerter", "Kafka consumer group of the alerter")
	flagenv.String(fs, &c.RulesDir, "alerter-rules-dir", "", "directory of default.yaml and <tenant>.yaml alert rules and targets (empty: built-in defaults, no notifications)")
	flagenv.Duration(fs, &c.History, "alerter-history", 28*24*time.Hour, "entity and cost history read at start to rebuild baselines")
	flagenv.Duration(fs, &c.RawHistory, "alerter-raw-history", 72*time.Hour, "raw and dead-letter history read at start (last event of each integration)")
	flagenv.Duration(fs, &c.AlertsHistory, "alerter-alerts-history", 30*24*time.Hour, "alerts topic history read at start to restore open incidents")
	flagenv.Duration(fs, &c.Tick, "alerter-tick", 2*time.Second, "how often every rule is evaluated")
	flagenv.Duration(fs, &c.IdleLag, "alerter-idle-lag", 2*time.Minute, "event time stands this far behind the wall clock when inputs are idle")
	flagenv.Duration(fs, &c.ReplayAge, "alerter-replay-age", 30*time.Minute, "raw events arriving this long after they happened (and none fresher) mean history is being sent: verdicts wait (0: off)")
	flagenv.Int(fs, &c.MaxPollRecords, "alerter-max-poll-records", 5000, "most records in one poll")
	flagenv.Duration(fs, &c.Recent, "alerter-recent", 24*time.Hour, "how long resolved alerts are listed by GET /v1/alerts")
	flagenv.Int(fs, &c.QueueSize, "alerter-queue-size", 1000, "notifications waiting per delivery target; more are dropped")
	flagenv.Duration(fs, &c.DeliveryTimeout, "alerter-delivery-timeout", 10*time.Second, "one delivery attempt")
	flagenv.Int(fs, &c.MaxAttempts, "alerter-delivery-attempts", 10, "attempts before a notification is given up")
	flagenv.Duration(fs, &c.RetryMin, "alerter-retry-min", time.Second, "first retry delay (doubling, with jitter)")
	flagenv.Duration(fs, &c.RetryMax, "alerter-retry-max", 5*time.Minute, "longest retry delay")
	flagenv.Duration(fs, &c.GiveUpAfter, "alerter-give-up-after", time.Hour, "a notification not delivered by then is given up")
	flagenv.Duration(fs, &c.DrainTimeout, "alerter-drain-timeout", 10*time.Second, "delivering queued notifications at shutdown")
}

// DefaultConfig is the configuration of RegisterFlags' defaults.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	return c
}

// Validate names the setting that is wrong.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s, must be positive", name, d))
		}
	}
	if c.Group == "" {
		errs = append(errs, errors.New("alerter-group: required"))
	}
	positive("alerter-history", c.History)
	positive("alerter-raw-history", c.RawHistory)
	positive("alerter-alerts-history", c.AlertsHistory)
	positive("alerter-tick", c.Tick)
	positive("alerter-recent", c.Recent)
	positive("alerter-delivery-timeout", c.DeliveryTimeout)
	positive("alerter-retry-min", c.RetryMin)
	positive("alerter-give-up-after", c.GiveUpAfter)
	positive("alerter-drain-timeout", c.DrainTimeout)
	if c.ReplayAge < 0 {
		errs = append(errs, fmt.Errorf("alerter-replay-age: %s, must not be negative", c.ReplayAge))
	}
	if c.IdleLag < 0 {
		errs = append(errs, fmt.Errorf("alerter-idle-lag: %s, must not be negative", c.IdleLag))
	}
	if c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("alerter-retry-max: %s is under alerter-retry-min %s", c.RetryMax, c.RetryMin))
	}
	if c.MaxPollRecords < 1 {
		errs = append(errs, fmt.Errorf("alerter-max-poll-records: %d, must be at least 1", c.MaxPollRecords))
	}
	if c.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("alerter-queue-size: %d, must be at least 1", c.QueueSize))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("alerter-delivery-attempts: %d, must be at least 1", c.MaxAttempts))
	}
	return errors.Join(errs...)
}

func (c Config) delivery() notify.Config {
	return notify.Config{QueueSize: c.QueueSize, Timeout: c.DeliveryTimeout, MaxAttempts: c.MaxAttempts,
		MinBackoff: c.RetryMin, MaxBackoff: c.RetryMax, MaxAge: c.GiveUpAfter}
}
