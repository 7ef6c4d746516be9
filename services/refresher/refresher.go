package refresher

import (
	"time"

	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
)

// Deps are what the refresher is given.
type Deps struct {
	Tel   *telemetry.Telemetry
	Store chstore.Store
	// Database holds the tables; it also names the default group.
	Database string
	// Zones gives each account's time zone (tenants.Config.Zone); nil
	// means UTC everywhere.
	Zones aggregates.Zones
	// Kafka is the cluster whose group elects the active refresher.
	Kafka kafka.Config
}

// Refresher runs the aggregate rounds while it leads its group.
type Refresher struct {
	cfg     Config
	group   string
	kafka   kafka.Config
	rounds  *aggregates.Refresher
	log     zerolog.Logger
	leading atomic.Bool
	ran     atomic.Bool
}

// New checks the configuration and the dependencies; Run starts it.
func New(cfg Config, deps Deps) (*Refresher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.Kafka.Validate(); err != nil {
		return nil, fmt.Errorf("refresher: %w", err)
	}
	tel := deps.Tel
	if tel == nil {
		tel = telemetry.Nop()
	}
	rounds, err := aggregates.NewRefresher(cfg.Aggregates, aggregates.RefreshDeps{
		Tel: tel, Store: deps.Store, Database: deps.Database, Zones: deps.Zones})
	if err != nil {
		return nil, err
	}
	r := &Refresher{cfg: cfg, group: cfg.group(deps.Database), kafka: deps.Kafka, rounds: rounds,
		log: tel.Log.With().Str("component", "refresher").Logger()}
	g, err := tel.Meter.Int64ObservableGauge("throughline.refresher.leader",
		metric.WithDescription("1 while this refresher leads its group and refreshes the aggregates"))
	if err != nil {
		return nil, fmt.Errorf("creating refresher metrics: %w", err)
	}
	if _, err := tel.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		v := int64(0)
		if r.leading.Load() {
			v = 1
		}
		o.ObserveInt64(g, v)
		return nil
	}, g); err != nil {
		return nil, fmt.Errorf("creating refresher metrics: %w", err)
	}
	return r, nil
}

// Group is the consumer group this refresher joins.
func (r *Refresher) Group() string { return r.group }

// Leading tells whether this refresher is the active one.
func (r *Refresher) Leading() bool { return r.leading.Load() }

// AsOf is when this instance's last successful round started (zero if it
// has not led one): the aggregates hold every entity row committed before.
func (r *Refresher) AsOf() time.Time { return r.rounds.AsOf() }

// Run joins the group and, while this refresher leads it, refreshes every
// Interval, until ctx ends. Shutdown order: the running round ends (its
// statements are cancelled with ctx; a cut round is redone by the next
// leader, as every round recomputes from the entity tables), then the
// refresher leaves the group, so a standby takes over at once. With
// Interval 0 it returns at once. It may be called once.
func (r *Refresher) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("refresher: Run called twice")
	}
	if r.cfg.Aggregates.Interval <= 0 {
		r.log.Info().Msg("refresher off (analytics-refresh-interval 0)")
		return nil
	}
	l := kafka.Leadership{
		Opts:     kafka.BaseOpts(r.kafka, r.log),
		Group:    r.group,
		Topic:    kafka.TopicCosts,
		Log:      r.log,
		OnChange: r.leading.Store,
	}
	return l.Run(ctx, func(ctx context.Context) { r.rounds.Run(ctx) })
}
