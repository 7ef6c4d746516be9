package stitcher

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
)

// Config of the stitcher. RegisterFlags holds the defaults; every setting is
// a flag and a THROUGHLINE_STITCHER_* variable.
type Config struct {
	// Group is the Kafka consumer group; instances of one group share the
	// raw topic's partitions.
	Group string
	// TransactionalID must be unique per running instance and stable across
	// its restarts: a restarted instance fences its predecessor's open
	// transaction at once instead of waiting for it to time out.
	TransactionalID string
	// InstanceID is the static group membership id (KIP-345), with the same
	// rules: a restarted (or SIGKILLed) instance takes its partitions back
	// at once instead of waiting out its dead predecessor's session
	// timeout. Empty: dynamic membership.
	InstanceID string
	// Lateness is how long, in event time, events wait to be applied in
	// order; input out of order within it gives the same output as in order.
	Lateness time.Duration
	// IdleFlush applies the events still waiting for the watermark of a
	// partition that has received nothing for this long (processing time).
	IdleFlush time.Duration
	// MaxPollRecords bounds the records of one poll.
	MaxPollRecords int
	// TxnRecords and TxnTime bound a transaction: while polls come full
	// (the input has a backlog) it takes more of them, up to TxnRecords
	// input records or until TxnTime has passed since its first poll. A
	// poll that comes short ends it, so a trickle commits poll by poll.
	TxnRecords int
	TxnTime    time.Duration
	// TransactionTimeout is the broker's bound on an open transaction. A
	// restart fences its own predecessor's transaction at once; this bounds
	// the wait for one nobody fences (an instance gone for good), during
	// which read-committed readers and restores of its partitions stall.
	// 10 s, as Kafka Streams' exactly-once default: a transaction here
	// lasts at most TxnTime (1 s) and its commit.
	TransactionTimeout time.Duration
	// RestoreTimeout bounds reading a partition's state back from the changelog.
	RestoreTimeout time.Duration
	// RulesDir holds <tenant>.yaml channel rules layered over the defaults.
	RulesDir string
	// SettingsFile overrides domain thresholds per tenant or account.
	SettingsFile string
	// InputTopic is read; TopicSuffix is appended to every output topic
	// (entity topics and the changelog), e.g. ".replay1" for a replay.
	InputTopic  string
	TopicSuffix string
	// Replay reads the input from the start to its end offsets at start,
	// applies everything, commits and returns.
	Replay bool
}

// RegisterFlags registers the settings on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	if host == "" {
		host = "local"
	}
	flagenv.String(fs, &c.Group, "stitcher-group", "throughline-stitcher", "Kafka consumer group of the stitcher")
	flagenv.String(fs, &c.TransactionalID, "stitcher-transactional-id", "throughline-stitcher-"+host,
		"Kafka transactional id: unique per instance, stable across its restarts")
	flagenv.String(fs, &c.InstanceID, "stitcher-instance-id", "throughline-stitcher-"+host,
		"static group membership id: unique per instance, stable across its restarts (empty: dynamic membership)")
	flagenv.Duration(fs, &c.Lateness, "stitcher-lateness", 3*time.Second, "event-time wait before events are applied in order (latest versions do not depend on it; later events re-state)")
	flagenv.Duration(fs, &c.IdleFlush, "stitcher-idle-flush", time.Second, "apply waiting events of a partition idle this long")
	flagenv.Int(fs, &c.MaxPollRecords, "stitcher-max-poll-records", 2000, "most records in one poll")
	flagenv.Int(fs, &c.TxnRecords, "stitcher-txn-records", 20000, "most input records in one transaction (polls are gathered while the input has a backlog)")
	flagenv.Duration(fs, &c.TxnTime, "stitcher-txn-time", time.Second, "longest a transaction gathers polls (bounds the extra output latency under a backlog)")
	flagenv.Duration(fs, &c.TransactionTimeout, "stitcher-transaction-timeout", 10*time.Second, "Kafka transaction timeout (bounds how long a crashed instance's open transaction can hold up readers)")
	flagenv.Duration(fs, &c.RestoreTimeout, "stitcher-restore-timeout", 5*time.Minute, "longest state restore of a partition")
	flagenv.String(fs, &c.RulesDir, "stitcher-rules-dir", "", "directory of <tenant>.yaml channel rules (empty: defaults)")
	flagenv.String(fs, &c.SettingsFile, "stitcher-settings", "", "YAML of per-tenant/account thresholds (empty: defaults)")
	flagenv.String(fs, &c.InputTopic, "stitcher-input-topic", kafka.TopicRaw, "topic of normalised events")
	flagenv.String(fs, &c.TopicSuffix, "stitcher-topic-suffix", "", "suffix of every output topic (for a replay into fresh topics)")
	flagenv.Bool(fs, &c.Replay, "stitcher-replay", false, "reprocess the input from its start to its current end, then exit")
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
	if c.Group == "" {
		errs = append(errs, errors.New("stitcher-group: required"))
	}
	if c.TransactionalID == "" {
		errs = append(errs, errors.New("stitcher-transactional-id: required"))
	}
	if c.Lateness < 0 {
		errs = append(errs, fmt.Errorf("stitcher-lateness: %s, must not be negative", c.Lateness))
	}
	if c.IdleFlush <= 0 {
		errs = append(errs, fmt.Errorf("stitcher-idle-flush: %s, must be positive", c.IdleFlush))
	}
	if c.MaxPollRecords < 1 {
		errs = append(errs, fmt.Errorf("stitcher-max-poll-records: %d, must be at least 1", c.MaxPollRecords))
	}
	if c.TxnRecords < 1 {
		errs = append(errs, fmt.Errorf("stitcher-txn-records: %d, must be at least 1", c.TxnRecords))
	}
	if c.TxnTime <= 0 || c.TxnTime > c.TransactionTimeout/4 {
		errs = append(errs, fmt.Errorf("stitcher-txn-time: %s, must be positive and at most a quarter of stitcher-transaction-timeout (%s)", c.TxnTime, c.TransactionTimeout))
	}
	if c.TransactionTimeout < time.Second {
		errs = append(errs, fmt.Errorf("stitcher-transaction-timeout: %s, must be at least 1s", c.TransactionTimeout))
	}
	if c.RestoreTimeout <= 0 {
		errs = append(errs, fmt.Errorf("stitcher-restore-timeout: %s, must be positive", c.RestoreTimeout))
	}
	if c.InputTopic == "" {
		errs = append(errs, errors.New("stitcher-input-topic: required"))
	}
	if c.Replay && c.TopicSuffix == "" {
		errs = append(errs, errors.New("stitcher-topic-suffix: required with stitcher-replay (a replay writes fresh topics)"))
	}
	return errors.Join(errs...)
}

// ForReplay returns the configuration of a replay into fresh topics named
// with suffix: its own consumer group and transactional id, so it starts
// from the input's beginning with empty state and leaves the live stitcher
// alone.
func (c Config) ForReplay(suffix string) Config {
	c.Replay = true
	c.TopicSuffix = suffix
	c.Group += "-replay" + suffix
	c.TransactionalID += "-replay" + suffix
	if c.InstanceID != "" {
		c.InstanceID += "-replay" + suffix
	}
	return c
}

// topics are the output topic names after the suffix.
type topics struct {
	sessions, calls, leads, deals, attribution, state string
}

func (c Config) topics() topics {
	s := c.TopicSuffix
	return topics{
		sessions: kafka.TopicSessions + s, calls: kafka.TopicCalls + s, leads: kafka.TopicLeads + s,
		deals: kafka.TopicDeals + s, attribution: kafka.TopicAttribution + s, state: kafka.TopicStitcherState + s,
	}
}

func (t topics) all() []string {
	return []string{t.sessions, t.calls, t.leads, t.deals, t.attribution, t.state}
}

// OutputTopics declares the output topics of a configuration (for
// kafka.EnsureTopics), with partitions as many as the input's.
func (c Config) OutputTopics(partitions int32) []kafka.Topic {
	var out []kafka.Topic
	for _, t := range kafka.Topics {
		for _, name := range c.topics().all() {
			if t.Name+c.TopicSuffix == name {
				t.Name = name
				t.Partitions = max(t.Partitions, partitions)
				out = append(out, t)
			}
		}
	}
	return out
}

// FreshTransactionalID returns id made unique to this start. For a broker
// that restarts with the process (the all-in-one's embedded kfake) and
// aborts, on start, every transaction a crash left open: there is nothing
// to fence, and kfake writes no abort markers for those transactions, so
// read-committed readers (franz-go) would drop every later batch of the
// same producer id in a fetch that spans the aborted one. A new
// transactional id gets a new producer id. Not for a real cluster, where a
// stable id is what fences a crashed instance's open transaction.
func FreshTransactionalID(id string) string {
	return id + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
