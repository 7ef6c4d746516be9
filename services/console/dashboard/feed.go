package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/console/analytics"
)

// LiveLead is a lead as the live view gets it (event "lead" of the stream).
// A lead is sent again whenever it changes (a repeat contact, a deal);
// Deleted says a re-statement removed it.
type LiveLead struct {
	LeadID   string  `json:"lead_id"`
	Account  string  `json:"account"`
	TS       int64   `json:"ts"` // first contact, Unix ms
	Kind     string  `json:"kind"`
	Channel  string  `json:"channel"`
	Source   string  `json:"source"`
	Medium   string  `json:"medium"`
	Campaign string  `json:"campaign,omitempty"`
	Contacts int     `json:"contacts"`
	Deals    int     `json:"deals"`
	WonDeals int     `json:"won_deals"`
	Revenue  float64 `json:"revenue"` // won deals' amounts, in major units
	Deleted  bool    `json:"deleted,omitempty"`
}

// feed consumes the leads topic from its end as it is when the feed
// starts (the last stable offsets: committed records only) and publishes
// every lead to the hub. Connection failures and a missing topic are
// retried until ctx ends.
func (d *Dashboard) feed(ctx context.Context) error {
	for {
		d.setState(LiveStarting)
		err := d.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d.log.Warn().Err(err).Str("topic", kafka.TopicLeads).Dur("retry_in", d.cfg.RetryDelay).Msg("live lead feed interrupted")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d.cfg.RetryDelay):
		}
	}
}

// consume runs one consumer until ctx ends or it fails.
func (d *Dashboard) consume(ctx context.Context) error {
	kcfg := *d.kafka
	if kcfg.ClientID == "" {
		kcfg.ClientID = "throughline-console"
	}
	kcfg.ClientID += "-dashboard"
	starts, err := d.endOffsets(ctx, kcfg)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(kafka.BaseOpts(kcfg, d.log),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafka.TopicLeads: starts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("creating leads consumer: %w", err)
	}
	defer cl.Close()
	d.setState(LiveOn)
	d.log.Info().Str("topic", kafka.TopicLeads).Int("partitions", len(starts)).Msg("live lead feed started")
	for {
		fetches := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("reading %s partition %d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(d.publishLead)
	}
}

// endOffsets are the leads topic's last stable offsets, once the topic
// exists.
func (d *Dashboard) endOffsets(ctx context.Context, kcfg kafka.Config) (map[int32]kgo.Offset, error) {
	cl, err := kgo.NewClient(kafka.BaseOpts(kcfg, d.log)...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client: %w", err)
	}
	defer cl.Close()
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(cl).ListCommittedOffsets(lctx, kafka.TopicLeads)
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", kafka.TopicLeads, err)
	}
	if err := listed.Error(); err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", kafka.TopicLeads, err)
	}
	out := map[int32]kgo.Offset{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Partition >= 0 {
			out[o.Partition] = kgo.NewOffset().At(o.Offset)
		}
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions yet", kafka.TopicLeads)
	}
	return out, nil
}

// publishLead sends one lead record to its tenant's streams.
func (d *Dashboard) publishLead(r *kgo.Record) {
	var l entity.Lead
	if err := json.Unmarshal(r.Value, &l); err != nil || l.Tenant == "" || l.LeadID == "" {
		d.leads.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", "undecodable")))
		return
	}
	currency := "RUB"
	if t, _ := d.tenants.Find(l.Tenant, ""); t != nil && t.Currency != "" {
		currency = t.Currency
	}
	msg, err := json.Marshal(LiveLead{
		LeadID: l.LeadID, Account: l.Account, TS: l.TS, Kind: l.Kind,
		Channel: l.Channel, Source: l.Source, Medium: l.Medium, Campaign: l.Campaign,
		Contacts: l.Contacts, Deals: l.Deals, WonDeals: l.WonDeals,
		Revenue: float64(l.RevenueMinor) / math.Pow10(analytics.MinorDigits(currency)), Deleted: l.Deleted,
	})
	if err != nil {
		return
	}
	outcome := "sent"
	if d.hub.publish(l.Tenant, l.Account, msg) == 0 {
		outcome = "unsubscribed"
	}
	d.leads.Add(context.Background(), 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}
