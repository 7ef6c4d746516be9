package alerter

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// restoreTimeout bounds reading the alerts topic back.
const restoreTimeout = time.Minute

// restore reads the alerts topic back over --alerter-alerts-history, so
// incidents open before a restart (or on another instance) stay open
// without a second notification, and recent cooldowns hold.
func (a *Alerter) restore(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	// Our own latest records must be in the topic before it is read.
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flushing alert records: %w", err)
	}
	adm := a.admin
	from := a.hooks.wall().Add(-a.cfg.AlertsHistory).UnixMilli()
	starts, err := adm.ListOffsetsAfterMilli(ctx, from, kafka.TopicAlerts)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("listing offsets of %s: %w", kafka.TopicAlerts, err)
	}
	ends, err := adm.ListEndOffsets(ctx, kafka.TopicAlerts)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing end offsets of %s: %w", kafka.TopicAlerts, err)
	}
	consume := map[int32]kgo.Offset{}
	need := map[int32]int64{}
	starts.Each(func(o kadm.ListedOffset) {
		if end, ok := ends.Lookup(o.Topic, o.Partition); ok && o.Offset < end.Offset {
			consume[o.Partition] = kgo.NewOffset().At(o.Offset)
			need[o.Partition] = end.Offset
		}
	})
	var versions []Alert
	if len(consume) > 0 {
		rc, err := kgo.NewClient(append(kafka.BaseOpts(a.deps.Kafka, a.log),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafka.TopicAlerts: consume}))...)
		if err != nil {
			return fmt.Errorf("creating alerts reader: %w", err)
		}
		defer rc.Close()
		for len(need) > 0 {
			fetches := rc.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("reading %s: %w", kafka.TopicAlerts, err)
			}
			var ferr error
			fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
			if ferr != nil {
				return fmt.Errorf("reading %s: %w", kafka.TopicAlerts, ferr)
			}
			fetches.EachRecord(func(r *kgo.Record) {
				var al Alert
				if json.Unmarshal(r.Value, &al) == nil && al.ID != "" {
					versions = append(versions, al)
				}
				if r.Offset+1 >= need[r.Partition] {
					delete(need, r.Partition)
				}
			})
		}
	}
	a.mgr.Reset()
	a.mgr.Restore(versions, func(al *Alert) time.Duration {
		if r := a.ruleOf(al); r != nil {
			return r.Cooldown.D()
		}
		return 0
	})
	a.log.Info().Int("versions", len(versions)).Int("open", len(a.mgr.Active(""))).Msg("incidents read back")
	return nil
}

// ruleOf is the configured rule an alert is about, nil when it is gone.
func (a *Alerter) ruleOf(al *Alert) *rules.Rule {
	set := a.cat.Tenant(al.Tenant)
	for _, r := range set.ForAccount(al.Account) {
		if r.Name == al.Rule {
			return r
		}
	}
	return nil
}

// emit records each alert version on the alerts topic and queues its
// notifications. Neither waits: the producer and the queues are bounded
// and report their own failures.
func (a *Alerter) emit(versions []Alert) {
	for i := range versions {
		al := versions[i]
		a.met.alert(&al)
		a.log.Info().Str("tenant", al.Tenant).Str("account", al.Account).Str("rule", al.Rule).
			Str("subject", al.Subject).Str("status", al.Status).Str("alert", al.ID).Msg("alert")
		v, err := json.Marshal(&al)
		if err != nil {
			a.log.Error().Err(err).Str("alert", al.ID).Msg("encoding alert record failed")
			continue
		}
		rec := &kgo.Record{Topic: kafka.TopicAlerts, Key: al.RecordKey(), Value: v}
		a.producer.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
			outcome := "written"
			if err != nil {
				outcome = "failed"
				a.log.Error().Err(err).Str("tenant", al.Tenant).Str("topic", kafka.TopicAlerts).Str("alert", al.ID).Msg("alert record not written")
			}
			a.met.produced.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", outcome)))
		})
		set := a.cat.Tenant(al.Tenant)
		targets := set.Targets
		if r := a.ruleOf(&al); r != nil {
			targets = set.TargetsOf(r)
		}
		a.notifier.Send(al, targets)
	}
}
