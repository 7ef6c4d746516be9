package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/schemas/chstoretest"
)

// env is one test's broker and database.
type env struct {
	t       testing.TB
	cluster *kafkatest.Cluster
	kcfg    kafka.Config
	db      string
	store   chstore.Store
	prod    *kgo.Client
	adm     *kadm.Client
	seq     int
}

const rawPartitions = 4

// testTel logs to stderr when LOADER_TEST_LOG is set (debug, info, ...).
func testTel() *telemetry.Telemetry {
	level := os.Getenv("LOADER_TEST_LOG")
	if level == "" {
		return telemetry.Nop()
	}
	log, err := telemetry.NewLogger(os.Stderr, level, true)
	if err != nil {
		panic(err)
	}
	tel, err := telemetry.New(log, "loader")
	if err != nil {
		panic(err)
	}
	return tel
}

func newEnv(t testing.TB) *env {
	t.Helper()
	// The raw topic has four partitions, the others the tests read two,
	// and alerts one (its test reads partition 0); the rest as declared.
	two := []string{kafka.TopicDeadLetter, kafka.TopicCosts}
	for _, s := range EntitySinks() {
		two = append(two, s.Topic)
	}
	cluster := kafkatest.Start(t, kfake.SeedTopics(rawPartitions, kafka.TopicRaw), kfake.SeedTopics(2, two...),
		kfake.SeedTopics(1, kafka.TopicAlerts))
	e := &env{t: t, cluster: cluster, store: engine, kcfg: cluster.Config("loader-test"), db: chstoretest.Database(t, engine)}
	e.prod = cluster.Client(t, kgo.ProducerLinger(0))
	e.adm = kadm.NewClient(e.prod)
	return e
}

func (e *env) config() Config {
	return Config{
		Group: "loader", MaxRows: 1000, MaxAge: 20 * time.Millisecond, Database: e.db,
		MaxPollRecords: 5000, Workers: 2, RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
	}
}

func (e *env) newLoader(cfg Config, store chstore.Store) *Loader {
	e.t.Helper()
	if store == nil {
		store = e.store
	}
	l, err := New(cfg, Deps{Tel: testTel(), Store: store, Kafka: e.kcfg})
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// running is a loader started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(l *Loader) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- l.Run(ctx) }()
	return r
}

// stop cancels the loader and returns what Run returned.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("loader did not stop")
		return nil
	}
}

// envelope is a valid raw-topic value; month spreads ts over table partitions.
func (e *env) envelope(account string, month int) event.Envelope {
	e.seq++
	ts := time.Date(2026, time.Month(1+month%12), 3, 10, 0, 0, 0, time.UTC).UnixMilli() + int64(e.seq)
	return event.Envelope{
		V: event.Version, ID: fmt.Sprintf("ev-%d", e.seq), Tenant: "t1", Account: account,
		Type: event.TypePageview, Source: "api", TS: ts, ReceivedAt: time.Now().UnixMilli(),
		ClientID: "c" + strconv.Itoa(e.seq%7), URL: "https://example.com/p?utm_source=ya",
	}
}

// produceEvents produces n envelopes over the given accounts (one account
// always lands on one partition) and months.
func (e *env) produceEvents(n int, accounts []string, months int) {
	e.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		ev := e.envelope(accounts[i%len(accounts)], i%max(months, 1))
		v, _ := json.Marshal(ev)
		recs[i] = &kgo.Record{Topic: kafka.TopicRaw, Key: ev.Key(), Value: v}
	}
	e.produce(recs...)
}

func (e *env) produce(recs ...*kgo.Record) {
	e.t.Helper()
	if err := e.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) count(query string) int {
	e.t.Helper()
	res, err := e.store.Query(context.Background(), query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	n, _ := strconv.Atoi(fmt.Sprint(res.Rows[0][0]))
	return n
}

// exactlyOnce asserts events holds want rows, each Kafka record once.
func (e *env) exactlyOnce(want int) {
	e.t.Helper()
	got := e.count("SELECT count() FROM " + e.db + ".events")
	uniq := e.count("SELECT uniqExact(_partition, _offset) FROM " + e.db + ".events")
	ids := e.count("SELECT uniqExact(event_id) FROM " + e.db + ".events")
	if got != want || uniq != want || ids != want {
		e.t.Fatalf("events: count %d, distinct records %d, distinct ids %d; want %d each", got, uniq, ids, want)
	}
}

func (e *env) waitEvents(n int) {
	e.t.Helper()
	q := "SELECT count() FROM " + e.db + ".events"
	eventually.True(e.t, 60*time.Second, fmt.Sprintf("%d events", n), func() bool { return e.count(q) >= n })
}

func (e *env) waitCommitted(group, topic string, n int64) {
	e.t.Helper()
	eventually.True(e.t, 60*time.Second, fmt.Sprintf("%d offsets committed on %s", n, topic), func() bool {
		return e.cluster.Committed(group, topic) >= n
	})
}

// faultyStore fails the inserts into one table while fail is set, and
// reports each failure. It wraps the real engine; it is not a mock of it.
type faultyStore struct {
	chstore.Store
	table    string
	mu       sync.Mutex
	fail     bool
	failures chan struct{}
}

func (s *faultyStore) setFail(v bool) {
	s.mu.Lock()
	s.fail = v
	s.mu.Unlock()
}

func (s *faultyStore) PrepareInsert(ctx context.Context, table string, cols []chstore.Column, token string) (chstore.Batch, error) {
	b, err := s.Store.PrepareInsert(ctx, table, cols, token)
	if err != nil || table != s.table {
		return b, err
	}
	return &faultyBatch{Batch: b, s: s}, nil
}

type faultyBatch struct {
	chstore.Batch
	s *faultyStore
}

func (b *faultyBatch) Send(ctx context.Context) error {
	b.s.mu.Lock()
	fail := b.s.fail
	b.s.mu.Unlock()
	if fail {
		select {
		case b.s.failures <- struct{}{}:
		default:
		}
		return fmt.Errorf("injected insert failure into %s", b.s.table)
	}
	return b.Batch.Send(ctx)
}
