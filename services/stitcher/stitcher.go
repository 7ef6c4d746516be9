// Package stitcher is the stream processor that turns the raw topic's events
// into sessions, calls, leads, deals and attribution rows, exactly once.
//
// Each poll of the raw topic (several, while the input has a backlog) is one
// Kafka transaction (franz-go's GroupTransactSession, read-committed): the
// events are applied to the state of their partition's accounts, and the
// entity records they cause and the changed state (to the compacted
// changelog, same partition number) are produced in the transaction that
// also commits the input offsets. When a transaction aborts — a rebalance, a
// broker error — the state of the partitions it touched is thrown away and
// read back from the changelog, and the consumer rewinds to the committed
// offsets, so every input is reflected exactly once in the entity topics.
// Instances of one group share the partitions; a partition's state is
// restored when it is assigned.
package stitcher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/pii"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/stitcher/internal/channel"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

// Deps are what the stitcher is given.
type Deps struct {
	Tel   *telemetry.Telemetry
	Kafka kafka.Config
	// Tenants, when given, adds each tenant's and account's own_domains to
	// the settings (internal referrers), and its tenants' pii_salt re-keys
	// state restored with phones or e-mails in clear (written before the
	// salt was set) to the hashes the collector now publishes.
	Tenants *tenants.Config
}

// Stitcher consumes the raw topic and produces the entity topics.
type Stitcher struct {
	cfg    Config
	deps   Deps
	log    zerolog.Logger
	rules  stitch.Rules
	topics topics
	met    *metrics
	hooks  hooks

	admin *kgo.Client // for offsets and metadata; set by Run

	mu    sync.Mutex // guards parts against the group's callbacks
	parts map[int32]*partState
	ran   bool
	// idle is set after a loop iteration that polled nothing and had nothing
	// to flush or commit: everything consumed so far is committed.
	idle atomic.Bool
	// revocations counts revoke and lost callbacks; revocationsAtEnd is its
	// value when the loop last ended a transaction through the session.
	revocations      atomic.Int64
	revocationsAtEnd int64
}

// hooks let tests reach into the loop.
type hooks struct {
	clientOpts []kgo.Opt
	// beforeEnd runs before a transaction ends; an error makes Run return
	// at once without ending it, as a crash would.
	beforeEnd func() error
}

type partState struct {
	set       *stitch.Set // nil until restored
	lastInput time.Time
	lastTrace trace.SpanContext // span of the last transaction that consumed its records
	end       int64             // replay: offset to reach
	next      int64             // next offset to process
}

// New checks the configuration and loads the rules; Run starts the stitcher.
func New(cfg Config, deps Deps) (*Stitcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := deps.Kafka.Validate(); err != nil {
		return nil, err
	}
	if deps.Tel == nil {
		deps.Tel = telemetry.Nop()
	}
	cat, err := channel.LoadCatalog(cfg.RulesDir)
	if err != nil {
		return nil, fmt.Errorf("stitcher-rules-dir: %w", err)
	}
	pol, err := stitch.LoadPolicy(cfg.SettingsFile)
	if err != nil {
		return nil, fmt.Errorf("stitcher-settings: %w", err)
	}
	pol = withOwnDomains(pol, deps.Tenants)
	s := &Stitcher{
		cfg: cfg, deps: deps, topics: cfg.topics(), parts: map[int32]*partState{},
		log:   deps.Tel.Log.With().Str("component", "stitcher").Logger(),
		rules: stitch.Rules{Policy: pol, Catalog: cat, Lateness: cfg.Lateness, Hashers: hashers(deps.Tenants)},
	}
	if s.met, err = newMetrics(deps.Tel, s); err != nil {
		return nil, fmt.Errorf("creating stitcher metrics: %w", err)
	}
	return s, nil
}

// sizes reports the events waiting for the watermark, the client ids kept,
// and the owned partitions whose state is not read back yet.
func (s *Stitcher) sizes() (pending, clients, unrestored int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.parts {
		if p.set == nil {
			unrestored++
			continue
		}
		pending += p.set.Pending()
		clients += p.set.Clients()
	}
	return pending, clients, unrestored
}

// Run consumes until ctx ends (or, in replay mode, until the input's end
// offsets at start are applied). Work not committed when it returns is
// redone by whoever owns the partitions next. Run may be called once.
func (s *Stitcher) Run(ctx context.Context) error {
	if s.ran {
		return errors.New("stitcher: Run called twice")
	}
	s.ran = true
	err := s.run(ctx)
	if ctx.Err() != nil {
		return nil // stopped: what was not committed is redone by the next owner
	}
	return err
}

func (s *Stitcher) run(ctx context.Context) error {
	defer s.met.unobserve() //nolint:errcheck // only fails for a foreign registration

	admin, err := s.newAdmin()
	if err != nil {
		return err
	}
	defer admin.Close()
	s.admin = admin
	outParts, err := s.checkTopics(ctx)
	if err != nil {
		return err
	}
	var ends map[int32]int64
	if s.cfg.Replay {
		if ends, err = s.inputEnds(ctx); err != nil {
			return err
		}
	}

	opts := append(kafka.BaseOpts(s.deps.Kafka, s.log), kafka.ProducerOpts(4*s.cfg.TxnRecords+10000)...)
	opts = append(opts,
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.InputTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.BlockRebalanceOnPoll(),
		kgo.TransactionalID(s.cfg.TransactionalID),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, p := range m[s.cfg.InputTopic] {
				if s.parts[p] == nil {
					s.parts[p] = &partState{end: ends[p], next: -1}
				}
			}
			s.log.Info().Ints32("partitions", m[s.cfg.InputTopic]).Msg("partitions assigned")
		}),
		kgo.OnPartitionsRevoked(s.drop("partitions revoked")),
		kgo.OnPartitionsLost(s.drop("partitions lost")),
	)
	if s.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(s.cfg.InstanceID))
	}
	opts = append(opts, s.hooks.clientOpts...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("creating kafka transact session: %w", err)
	}
	defer sess.CloseAllowingRebalance()
	// Initialising the transactional producer id fences a predecessor with
	// the same transactional id and aborts its open transaction, so restores
	// need not wait for it to time out.
	if _, _, err := sess.Client().ProducerID(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("initialising transactional producer: %w", err)
	}
	return s.loop(ctx, sess, outParts)
}

// newAdmin is the client for listing offsets and writing the changelog's
// end markers (to partitions it names).
func (s *Stitcher) newAdmin() (*kgo.Client, error) {
	cl, err := kgo.NewClient(append(kafka.BaseOpts(s.deps.Kafka, s.log), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka admin client: %w", err)
	}
	return cl, nil
}

func (s *Stitcher) drop(msg string) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		s.revocations.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range m[s.cfg.InputTopic] {
			delete(s.parts, p)
		}
		s.log.Info().Ints32("partitions", m[s.cfg.InputTopic]).Msg(msg)
	}
}

// checkTopics verifies the output topics can take every input partition's
// records at the same partition number.
func (s *Stitcher) checkTopics(ctx context.Context) (map[string]int32, error) {
	adm := kadm.NewClient(s.admin)
	names := append([]string{s.cfg.InputTopic, kafka.TopicDeadLetter}, s.topics.all()...)
	td, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	parts := map[string]int32{}
	for _, n := range names {
		d, ok := td[n]
		if !ok || d.Err != nil {
			return nil, fmt.Errorf("topic %s: missing (create it with kafka.EnsureTopics): %v", n, d.Err)
		}
		parts[n] = int32(len(d.Partitions))
	}
	in := parts[s.cfg.InputTopic]
	for _, n := range s.topics.all() {
		if parts[n] < in {
			return nil, fmt.Errorf("topic %s: %d partitions, needs at least %d (as many as %s)", n, parts[n], in, s.cfg.InputTopic)
		}
	}
	return parts, nil
}

func (s *Stitcher) inputEnds(ctx context.Context) (map[int32]int64, error) {
	ends, err := kadm.NewClient(s.admin).ListEndOffsets(ctx, s.cfg.InputTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", s.cfg.InputTopic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

func sortStrings(s []string) { sort.Strings(s) }

func keyOf(r stitch.Record) []byte {
	switch v := r.Value.(type) {
	case interface{ AccountKey() string }:
		return []byte(v.AccountKey())
	}
	return nil
}

func (s *Stitcher) topicOf(kind string) string {
	switch kind {
	case stitch.KindSession:
		return s.topics.sessions
	case stitch.KindCall:
		return s.topics.calls
	case stitch.KindLead:
		return s.topics.leads
	case stitch.KindDeal:
		return s.topics.deals
	}
	return s.topics.attribution
}

// withOwnDomains adds the tenants file's own_domains to the settings: a
// tenant's apply to its accounts, an account's come on top of its tenant's,
// both after any the settings file lists.
func withOwnDomains(p stitch.Policy, tc *tenants.Config) stitch.Policy {
	if tc == nil {
		return p
	}
	over := map[string]stitch.Settings{}
	for k, v := range p.Overrides {
		over[k] = v
	}
	for _, t := range tc.Tenants {
		tenant := over[t.ID]
		if len(t.OwnDomains) > 0 {
			tenant.OwnDomains = append(append([]string{}, tenant.OwnDomains...), t.OwnDomains...)
			over[t.ID] = tenant
		}
		for _, a := range t.Accounts {
			if len(a.OwnDomains) == 0 {
				continue
			}
			k := t.ID + "/" + a.ID
			acc := over[k]
			base := acc.OwnDomains
			if base == nil {
				base = tenant.OwnDomains
			}
			acc.OwnDomains = append(append([]string{}, base...), a.OwnDomains...)
			over[k] = acc
		}
	}
	p.Overrides = over
	return p
}

// hashers are the tenants' hashers of phones and e-mails (their pii_salt).
func hashers(tc *tenants.Config) map[string]*pii.Hasher {
	if tc == nil {
		return nil
	}
	out := map[string]*pii.Hasher{}
	for _, t := range tc.Tenants {
		if h := pii.New(t.PIISalt); h != nil {
			out[t.ID] = h
		}
	}
	return out
}
