package alerter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/eventually"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/alerter/internal/notify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTenants = `
tenants:
  - id: acme
    accounts: [{id: msk, name: Moscow}, {id: spb}]
`

// env is a kfake cluster with the alerter's topics, a producer, and a
// local webhook receiver that the tenant's rules file points at.
type env struct {
	t        testing.TB
	cluster  *kafkatest.Cluster
	kcfg     kafka.Config
	prod     *kgo.Client
	rc       *receiver
	rulesDir string
	ten      *tenants.Config
}

func newEnv(t testing.TB, rulesYAML string) *env {
	t.Helper()
	cluster := kafkatest.Start(t,
		kfake.SeedTopics(4, kafka.TopicRaw, kafka.TopicLeads, kafka.TopicCalls, kafka.TopicDeals),
		kfake.SeedTopics(2, kafka.TopicDeadLetter, kafka.TopicCosts),
		kfake.SeedTopics(1, kafka.TopicAlerts))
	e := &env{t: t, cluster: cluster, kcfg: cluster.Config("alerter-test"), prod: cluster.Client(t, kgo.ProducerLinger(0))}
	e.rc = newReceiver(t)
	e.rulesDir = t.TempDir()
	yaml := strings.ReplaceAll(rulesYAML, "RECEIVER", e.rc.srv.URL)
	if err := os.WriteFile(filepath.Join(e.rulesDir, "acme.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.ten, err = tenants.Parse([]byte(testTenants)); err != nil {
		t.Fatal(err)
	}
	return e
}

func testConfig() Config {
	c := DefaultConfig()
	c.Tick = 100 * time.Millisecond
	c.RetryMin, c.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	c.DeliveryTimeout = 2 * time.Second
	c.DrainTimeout = 2 * time.Second
	c.RulesDir = ""
	return c
}

// running is an alerter running in the background.
type running struct {
	*Alerter
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start runs an alerter of the environment until stop (or the test's end).
func (e *env) start(cfg Config) *running {
	e.t.Helper()
	cfg.RulesDir = e.rulesDir
	client := &http.Client{Transport: &http.Transport{}}
	a, err := newAlerter(cfg, Deps{Tel: telemetry.Nop(), Kafka: e.kcfg, Tenants: e.ten},
		hooks{httpClient: client, clientOpts: []kgo.Opt{kgo.FetchMaxWait(200 * time.Millisecond)}})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Alerter: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	e.t.Cleanup(func() {
		r.stop()
		client.CloseIdleConnections()
	})
	return r
}

func (r *running) stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// waitLive waits until the alerter has caught up and notifies.
func (r *running) waitLive(t testing.TB) {
	t.Helper()
	eventually.True(t, 20*time.Second, "the alerter goes live", func() bool { return r.State() == StateLive })
}

func (e *env) produce(topic, key string, v any) {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.prod.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) call(account, id string, at time.Time, answered bool) {
	e.produce(kafka.TopicCalls, "acme/"+account, entity.Call{Meta: entity.Meta{Tenant: "acme", Account: account, Version: 1},
		CallID: id, Provider: "generic", TS: at.UnixMilli(), Answered: answered, Channel: "direct"})
}

func (e *env) envelope(account, id, source string, at time.Time) {
	e.produce(kafka.TopicRaw, "acme/"+account, event.Envelope{V: 1, ID: id, Tenant: "acme", Account: account,
		Type: event.TypeCRM, Source: source, TS: at.UnixMilli(), ReceivedAt: at.UnixMilli()})
}

func (e *env) deadLetter(account, source string, at time.Time) {
	e.produce(kafka.TopicDeadLetter, "acme/"+account, event.DeadLetter{V: 1, Tenant: "acme", Account: account,
		Source: source, Reason: "bad", ReceivedAt: at.UnixMilli(), Payload: "{}"})
}

func (e *env) wonWithoutAmount(account, id string, at time.Time) {
	e.produce(kafka.TopicDeals, "acme/"+account, entity.Deal{Meta: entity.Meta{Tenant: "acme", Account: account, Version: 1},
		DealID: id, CRMDealID: id, Provider: "generic", CreatedAt: at.UnixMilli(), UpdatedAt: at.UnixMilli(),
		Stage: "won", Outcome: "won", WonAt: at.UnixMilli()})
}

// alertRecords reads the alerts topic from its start to its current end.
func (e *env) alertRecords() []Alert {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kcfg.Brokers...), kgo.ConsumeTopics(kafka.TopicAlerts),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out []Alert
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out
		}
		f.EachRecord(func(r *kgo.Record) {
			var a Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				e.t.Fatalf("alert record: %v", err)
			}
			if string(r.Key) != a.Tenant+"/"+a.Account {
				e.t.Errorf("alert record key %q", r.Key)
			}
			out = append(out, a)
		})
	}
}

// receiver is a local webhook endpoint.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []notify.WebhookPayload
	at  []time.Time
	ch  chan notify.WebhookPayload
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{ch: make(chan notify.WebhookPayload, 10000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p notify.WebhookPayload
		if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, p)
		r.at = append(r.at, time.Now())
		r.mu.Unlock()
		r.ch <- p
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// next waits for the next notification.
func (r *receiver) next(t testing.TB) notify.WebhookPayload {
	t.Helper()
	select {
	case p := <-r.ch:
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("no notification arrived")
		return notify.WebhookPayload{}
	}
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}
