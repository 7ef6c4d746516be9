package collector

import (
	"context"
	"sync"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
)

// CostPullGroup is the Kafka consumer group whose leader runs the cost
// connectors: with several collectors, exactly one pulls (docs/costs.md).
const CostPullGroup = "throughline-costpull"

// costLeader runs the puller while this collector leads CostPullGroup. The
// group consumes the costs topic with fetching paused — it reads nothing,
// the assignment is the lease: the leader balancer gives every partition to
// the group's leader, which pulls; the others stand by and take over when
// it leaves (a pull cut short by the hand-over never commits, and the new
// leader pulls at once).
type costLeader struct {
	c    *Collector
	ctx  context.Context
	mu   sync.Mutex
	stop func() // the running puller's; nil when standing by
}

// runCostPulls runs the puller until ctx ends — led by the group when
// CostPull.Elect, else at once; nothing when there is no connector. The
// returned func stops it and waits.
func (c *Collector) runCostPulls(ctx context.Context) func() {
	if c.costs == nil {
		return func() {}
	}
	if !c.cfg.CostPull.Elect {
		c.log.Info().Int("connectors", c.costs.Jobs()).Msg("cost pulls running")
		return c.startPuller(ctx)
	}
	l := &costLeader{c: c, ctx: ctx}
	cl, err := kgo.NewClient(c.readerOpts(
		kgo.ConsumerGroup(CostPullGroup),
		kgo.ConsumeTopics(kafka.TopicCosts),
		kgo.Balancers(kafka.LeaderBalancer{}),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(l.assigned),
		kgo.OnPartitionsRevoked(l.revoked),
		kgo.OnPartitionsLost(l.revoked),
	)...)
	if err != nil {
		c.log.Error().Err(err).Str("group", CostPullGroup).Msg("cost pulls not started: no group client")
		return func() {}
	}
	cl.PauseFetchTopics(kafka.TopicCosts)
	c.log.Info().Int("connectors", c.costs.Jobs()).Str("group", CostPullGroup).Msg("cost pulls waiting for group leadership")
	// The group is managed while the client polls; polls return nothing
	// (fetching is paused) until the client closes.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	return func() {
		<-done
		cl.LeaveGroup() // the others take over without waiting for a session timeout
		cl.Close()
		l.revoked(context.Background(), nil, nil)
	}
}

func (l *costLeader) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	if len(parts[kafka.TopicCosts]) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop == nil && l.ctx.Err() == nil {
		l.c.log.Info().Str("group", CostPullGroup).Msg("leading the cost pulls")
		l.stop = l.c.startPuller(l.ctx)
		l.c.costLeading.Store(true)
	}
}

func (l *costLeader) revoked(_ context.Context, _ *kgo.Client, _ map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		l.stop()
		l.stop = nil
		l.c.costLeading.Store(false)
		l.c.log.Info().Str("group", CostPullGroup).Msg("cost pulls handed over")
	}
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
