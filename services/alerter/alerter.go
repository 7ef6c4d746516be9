// Package alerter evaluates alert rules on the live streams — the
// stitcher's leads, calls and deals, the raw events, ad costs and dead
// letters — in event time, and delivers notifications of incidents to
// webhooks, Telegram and Slack, recording every incident change on the
// alerts topic (loaded into ClickHouse's alerts table).
//
// One member of the consumer group does the work: a balancer gives every
// input partition to the group's leader, because rules look across topics
// and accounts of a tenant. Other members stand by and take over when the
// leader leaves. On taking the partitions, the alerter reads the last weeks
// of its inputs to rebuild its baselines and the alerts topic to learn which
// incidents are open; it notifies nothing until it has caught up, so a
// restart neither repeats nor misses a notification.
package alerter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/alerter/internal/incident"
	"github.com/throughline/throughline/services/alerter/internal/notify"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

// Alert is one version of an incident: what GET /v1/alerts lists, what the
// alerts topic carries (JSON) and what the generic webhook posts.
type Alert = incident.Alert

// Alert statuses.
const (
	StatusFiring   = incident.Firing
	StatusResolved = incident.Resolved
)

// Deps are what the alerter is given.
type Deps struct {
	Tel     *telemetry.Telemetry
	Kafka   kafka.Config
	Tenants *tenants.Config
}

// States of the alerter.
const (
	StateStandby    = "standby"     // holds no partitions (another member is active, or not started)
	StateCatchingUp = "catching_up" // reading history; evaluates, notifies nothing
	StateLive       = "live"
	StateReplaying  = "replaying" // live, but a source sends history: evaluates, notifies nothing
)

// Alerter consumes the inputs, evaluates the rules and notifies.
type Alerter struct {
	cfg      Config
	deps     Deps
	log      zerolog.Logger
	cat      *rules.Catalog
	mgr      *incident.Manager
	notifier *notify.Notifier
	met      *metrics
	hooks    hooks

	state atomic.Value // string
	ran   atomic.Bool

	mu      sync.Mutex // guards assign and revoked against the group's callbacks
	assign  *assignment
	revoked bool

	admin    *kadm.Client // set by Run before the group starts
	producer *kgo.Client  // the group client, which also writes alert records
}

// hooks let tests reach in.
type hooks struct {
	clientOpts []kgo.Opt
	wall       func() time.Time
	httpClient *http.Client
	env        rules.Env
}

// New loads the rules (errors name the file, rule and setting) and checks
// the configuration; Run starts the alerter.
func New(cfg Config, deps Deps) (*Alerter, error) {
	return newAlerter(cfg, deps, hooks{})
}

func newAlerter(cfg Config, deps Deps, h hooks) (*Alerter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.Kafka.Validate(); err != nil {
		return nil, err
	}
	if deps.Tel == nil {
		deps.Tel = telemetry.Nop()
	}
	if deps.Tenants == nil {
		deps.Tenants = &tenants.Config{}
	}
	if h.wall == nil {
		h.wall = time.Now
	}
	if h.env == nil {
		h.env = os.LookupEnv
	}
	cat, err := loadRules(cfg.RulesDir, deps.Tenants, h.env)
	if err != nil {
		return nil, err
	}
	a := &Alerter{cfg: cfg, deps: deps, cat: cat, hooks: h,
		log: deps.Tel.Log.With().Str("component", "alerter").Logger(),
		mgr: incident.NewManager(cfg.Recent, h.wall)}
	a.state.Store(StateStandby)
	if a.met, err = newMetrics(deps.Tel.Meter, a); err != nil {
		return nil, fmt.Errorf("creating alerter metrics: %w", err)
	}
	client := h.httpClient
	if client == nil {
		client = &http.Client{}
	}
	a.notifier, err = notify.New(cfg.delivery(), client, a.log, deps.Tel.Meter, deps.Tenants.Location)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func loadRules(dir string, ten *tenants.Config, env rules.Env) (*rules.Catalog, error) {
	if dir == "" {
		return rules.Load(nil, ten, env)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("alerter-rules-dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("alerter-rules-dir: %s is not a directory", dir)
	}
	cat, err := rules.Load(os.DirFS(dir), ten, env)
	if err != nil {
		return nil, fmt.Errorf("alerter-rules-dir: %w", err)
	}
	return cat, nil
}

// State is standby, catching_up, live or replaying.
func (a *Alerter) State() string { return a.state.Load().(string) }

// ActiveAlerts are the open incidents of every tenant, the newest first.
func (a *Alerter) ActiveAlerts() []Alert { return a.mgr.Active("") }

// Alerts are a tenant's open incidents and the ones resolved within
// --alerter-recent, the newest first.
func (a *Alerter) Alerts(tenant string) (active, recent []Alert) {
	return a.mgr.Active(tenant), a.mgr.Recent(tenant)
}

// Ready reports an error until the alerter is live or standing by.
func (a *Alerter) Ready(context.Context) error {
	if s := a.State(); s == StateCatchingUp {
		return errors.New("alerter: catching up with its inputs")
	}
	return nil
}

// Run consumes and evaluates until ctx ends, then delivers what is queued
// (up to --alerter-drain-timeout). Run may be called once.
func (a *Alerter) Run(ctx context.Context) error {
	if a.ran.Swap(true) {
		return errors.New("alerter: Run called twice")
	}
	defer a.met.unobserve() //nolint:errcheck // only fails for a foreign registration
	err := a.run(ctx)
	dctx, cancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
	defer cancel()
	a.notifier.Close(dctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
