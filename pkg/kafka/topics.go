// Package kafka holds what every Throughline service needs to talk to Kafka:
// the topic declarations, client construction with the project's defaults,
// a zerolog adapter for franz-go and trace-context propagation in headers.
// The same code talks to the embedded kfake broker and to a real cluster.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic is the declaration of one topic: the single place its settings live.
type Topic struct {
	Name       string
	Partitions int32
	Retention  time.Duration // 0 = broker default; -1 = forever
	Compacted  bool
	// Segment rolls a partition's active segment after this long (0 =
	// broker default, 7 days): retention deletes whole segments only, so a
	// short-lived topic needs segments shorter than its retention.
	Segment time.Duration
}

// Topic names. They are part of the public contract for outside consumers.
const (
	TopicRaw        = "throughline.raw.v1"
	TopicDeadLetter = "throughline.deadletter.v1"
	// TopicCosts holds ad cost rows (envelopes of type cost) apart from the
	// raw topic: they touch no visitor, so the stitcher never reads them; the
	// loader restates them into the costs table.
	TopicCosts = "throughline.costs.v1"

	// The stitcher's entity topics: versioned records keyed "tenant/account",
	// written to the same partition number as the raw record that caused
	// them, so they need at least as many partitions as TopicRaw.
	TopicSessions    = "throughline.sessions.v1"
	TopicCalls       = "throughline.calls.v1"
	TopicLeads       = "throughline.leads.v1"
	TopicDeals       = "throughline.deals.v1"
	TopicAttribution = "throughline.attribution.v1"
	// TopicStitcherState is the stitcher's compacted state changelog,
	// co-partitioned with TopicRaw (same partition count).
	TopicStitcherState = "throughline.stitcher-state.v1"
	// TopicAlerts holds the alerter's incidents, one record per change
	// (firing, resolved) keyed "tenant/account"; the loader writes them to
	// the alerts table. One partition: alerts are few, and the alerter reads
	// the topic back at start to know which incidents are open.
	TopicAlerts = "throughline.alerts.v1"
	// TopicNumbers holds the pool number leases the collectors hand out
	// (the number_lease envelopes also on TopicRaw), keyed "tenant/account":
	// every collector follows it to lease from the same table as the others,
	// and reads it back at start. Coordination, not data: TopicRaw stays the
	// record the stitcher and the tables use.
	TopicNumbers = "throughline.numbers.v1"
)

// NumbersRetention is how long TopicNumbers keeps leases: a collector reads
// back the longest lease a pool may have (24h) plus a minute, so two days
// hold every lease a start needs with a day to spare. Delete, not compact:
// the key is the account, and compaction would keep one lease per account.
const NumbersRetention = 48 * time.Hour

// Topics are all topics Throughline uses, created at start.
var Topics = []Topic{
	{Name: TopicRaw, Partitions: 12, Retention: 30 * 24 * time.Hour},
	{Name: TopicDeadLetter, Partitions: 3, Retention: 30 * 24 * time.Hour},
	{Name: TopicCosts, Partitions: 3, Retention: 90 * 24 * time.Hour},
	{Name: TopicSessions, Partitions: 12, Retention: 30 * 24 * time.Hour},
	{Name: TopicCalls, Partitions: 12, Retention: 30 * 24 * time.Hour},
	{Name: TopicLeads, Partitions: 12, Retention: 30 * 24 * time.Hour},
	{Name: TopicDeals, Partitions: 12, Retention: 30 * 24 * time.Hour},
	{Name: TopicAttribution, Partitions: 12, Retention: 30 * 24 * time.Hour},
	{Name: TopicStitcherState, Partitions: 12, Retention: -1, Compacted: true},
	{Name: TopicAlerts, Partitions: 1, Retention: 90 * 24 * time.Hour},
	// Few records (one per visitor per half lease) read whole by every
	// collector: three partitions spread the writes without making the
	// readers fetch from many.
	{Name: TopicNumbers, Partitions: 3, Retention: NumbersRetention, Segment: 6 * time.Hour},
}

// Configs returns the topic-level configuration Kafka understands.
func (t Topic) Configs() map[string]*string {
	c := map[string]*string{}
	set := func(k, v string) { c[k] = &v }
	if t.Compacted {
		set("cleanup.policy", "compact")
	} else {
		set("cleanup.policy", "delete")
	}
	switch {
	case t.Retention < 0:
		set("retention.ms", "-1")
	case t.Retention > 0:
		set("retention.ms", strconv.FormatInt(t.Retention.Milliseconds(), 10))
	}
	if t.Segment > 0 {
		set("segment.ms", strconv.FormatInt(t.Segment.Milliseconds(), 10))
	}
	return c
}

// EnsureTopics creates the declared topics that do not exist yet. Existing
// topics are left as they are (partition counts are never changed silently).
func EnsureTopics(ctx context.Context, adm *kadm.Client, replication int16, topics []Topic) error {
	for _, t := range topics {
		resp, err := adm.CreateTopic(ctx, t.Partitions, replication, t.Configs(), t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", t.Name, err)
		}
	}
	return nil
}

// Admin runs f with an admin client of the cluster c names, for at most 30
// seconds: what a service binary does at start (creating its topics).
func (c Config) Admin(ctx context.Context, f func(context.Context, *kadm.Client) error) error {
	cl, err := kgo.NewClient(c.ConnOpts()...)
	if err != nil {
		return fmt.Errorf("creating kafka admin client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return f(ctx, kadm.NewClient(cl))
}

// CreateTopics creates the declared topics (Topics) that do not exist yet
// on the cluster c names, with its replication factor.
func (c Config) CreateTopics(ctx context.Context) error {
	return c.Admin(ctx, func(ctx context.Context, adm *kadm.Client) error {
		return EnsureTopics(ctx, adm, c.Replication, Topics)
	})
}
