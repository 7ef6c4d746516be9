package collector

import (
	"context"

	"github.com/throughline/throughline/pkg/kafka"
	"go.opentelemetry.io/otel/metric"
)

// CostPullGroup is the Kafka consumer group whose leader runs the cost
// connectors: with several collectors, exactly one pulls (docs/costs.md).
const CostPullGroup = "throughline-costpull"

// runCostPulls runs the puller until ctx ends — while this collector leads
// CostPullGroup (kafka.Leadership) when CostPull.Elect, else at once;
// nothing when there is no connector. The returned func waits for it to
// stop. Under election a pull cut short by the hand-over never commits, and
// the new leader pulls at once.
func (c *Collector) runCostPulls(ctx context.Context) func() {
	if c.costs == nil {
		return func() {}
	}
	if !c.cfg.CostPull.Elect {
		c.log.Info().Int("connectors", c.costs.Jobs()).Msg("cost pulls running")
		return c.startPuller(ctx)
	}
	l := kafka.Leadership{
		Opts:     c.readerOpts(),
		Group:    CostPullGroup,
		Topic:    kafka.TopicCosts,
		Log:      c.log.With().Str("work", "cost pulls").Int("connectors", c.costs.Jobs()).Logger(),
		OnChange: c.costLeading.Store,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Run(ctx, c.costs.Run); err != nil {
			c.log.Error().Err(err).Str("group", CostPullGroup).Msg("cost pulls not started: no group client")
		}
	}()
	return func() { <-done }
}

// startPuller runs the puller until ctx ends or the returned func is called.
func (c *Collector) startPuller(ctx context.Context) func() {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.costs.Run(pctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// registerCostLeaderGauge shows whether this collector runs the pulls.
func (c *Collector) registerCostLeaderGauge(m metric.Meter) error {
	g, err := m.Int64ObservableGauge("throughline.costpull.leader",
		metric.WithDescription("1 while this collector runs the cost connectors' pulls (group "+CostPullGroup+")"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		v := int64(0)
		if !c.cfg.CostPull.Elect || c.costLeading.Load() {
			v = 1 // without election, a collector with connectors always runs them
		}
		o.ObserveInt64(g, v)
		return nil
	}, g)
	return err
}
