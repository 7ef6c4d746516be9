// Package leases is the collector's number pools at run time: GET
// /v1/numbers leases a pool number to a visitor and publishes the lease
// (ServeNumbers); at start the lease tables are read back from Kafka
// (Restore), and while the collector runs the other collectors' leases are
// applied as they come (Run), so collectors serving one pool lease from what
// amounts to one table.
package leases

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/clientip"
	"github.com/throughline/throughline/services/collector/internal/ingest"
	"github.com/throughline/throughline/services/collector/internal/intake"
	"github.com/throughline/throughline/services/collector/internal/numbers"
	"github.com/throughline/throughline/services/collector/internal/publish"
	"github.com/throughline/throughline/services/collector/internal/ratelimit"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
)

// Config is the collector's configuration of leases.
type Config struct {
	// RestoreTimeout bounds the start-up restore; past it /v1/numbers
	// serves with the leases read so far.
	RestoreTimeout time.Duration
	// ClientRate and KeyRate bound new leases per client address and per
	// key.
	ClientRate, KeyRate ratelimit.Limit
}

// Deps are the leases' collaborators.
type Deps struct {
	Meter    metric.Meter
	Producer *kgo.Client // for listing offsets (kadm)
	// ReaderOpts are the options of a client that reads what the
	// collector published.
	ReaderOpts func(extra ...kgo.Opt) []kgo.Opt
	Pub        *publish.Publisher
	In         *intake.Pipeline
	Keys       *tenants.Keys
	Tenants    *tenants.Config // the accounts' number pools; nil: none
	IPs        *clientip.Resolver
	Encode     func([]event.Envelope) ([]*kgo.Record, error)
	Log, Warn  zerolog.Logger
}

// Leases holds the pools and their restore and following.
type Leases struct {
	cfg  Config
	deps Deps

	pools    *numbers.Pools // number pools, leased in this process's memory
	nm       *numberMetrics
	rm       *restoreMetrics
	fm       *followMetrics
	instance []byte // this process, on the leases it publishes to TopicNumbers
	byClient *ratelimit.Limiter
	byKey    *ratelimit.Limiter

	// The lease tables are read back from Kafka once (Restore, Run);
	// meanwhile GET /v1/numbers answers 503.
	restoreOnce sync.Once
	ready       atomic.Bool
}

// New builds the pools of deps.Tenants; it reads nothing until Restore or Run.
func New(cfg Config, deps Deps) (*Leases, error) {
	nm, err := newNumberMetrics(deps.Meter)
	if err != nil {
		return nil, err
	}
	rm, err := newRestoreMetrics(deps.Meter)
	if err != nil {
		return nil, err
	}
	fm, err := newFollowMetrics(deps.Meter)
	if err != nil {
		return nil, err
	}
	s := &Leases{cfg: cfg, deps: deps, pools: numbers.New(deps.Tenants), nm: nm, rm: rm, fm: fm,
		instance: []byte(ingest.NewID(time.Now())), byClient: ratelimit.NewBounded(maxLeaseClients), byKey: ratelimit.New()}
	s.ready.Store(true) // until a restore begins
	return s, nil
}

// Ready reports whether the lease tables are restored.
func (s *Leases) Ready() bool { return s.ready.Load() }

// Pools are the number pools.
func (s *Leases) Pools() *numbers.Pools { return s.pools }

// Instance names this process on the leases it publishes.
func (s *Leases) Instance() []byte { return s.instance }
