package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/contract/alert"
	"github.com/throughline/throughline/pkg/contract/entity"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console"
	"github.com/throughline/throughline/services/console/dashboard"
	"github.com/throughline/throughline/services/console/internal/testnet"
)

// Tokens of the test tenants. net is testnet's hand-computed network.
const (
	netToken   = "net-read-token-0123456789"
	otherToken = "other-read-token-0123456789"
	sqlToken   = "admin-sql-token-0123456789"
)

// ClickHouse users of the tenants file: the dashboard's "Connect your BI"
// panel shows the signed-in tenant's (the admin's under the admin token).
const (
	biURL       = "http://clickhouse.example:8123"
	adminCHUser = "ch_admin"
	adminCHPass = "ch-admin-password-0123456789"
	netCHUser   = "net_ro"
	netCHPass   = "net-ro-password-0123456789"
	otherCHUser = "other_ro"
	otherCHPass = "other-ro-password-0123456789"
)

const testTenants = `
clickhouse:
  admin: {user: ` + adminCHUser + `, password: ` + adminCHPass + `}
tenants:
  - id: net
    name: Franchise Net
    timezone: Europe/Moscow
    margin: 0.5
    read_tokens: [` + netToken + `]
    clickhouse_users:
      - {user: ` + netCHUser + `, password: ` + netCHPass + `}
    accounts:
      - {id: msk, name: Moscow}
      - {id: spb, name: Saint Petersburg}
  - id: other
    name: Other Network
    read_tokens: [` + otherToken + `]
    clickhouse_users:
      - {user: ` + otherCHUser + `, password: ` + otherCHPass + `}
    accounts: [{id: x1, name: Elsewhere}]
`

// env is a console serving the dashboard over the embedded engine holding
// testnet's network, a kfake broker with the pipeline's topics feeding the
// live view, and an alert source serving GET /v1/alerts as the alerter does.
type env struct {
	t      *testing.T
	url    string
	world  *testnet.World
	kcfg   kafka.Config
	prod   *kgo.Client
	alerts *alertSource
	stop   func() error // stops the console and returns Serve's error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ten, err := tenants.Parse([]byte(testTenants))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, world: testnet.New(t, engine)}
	testnet.Network(t, e.world)
	e.deadLetters()

	cluster := kafkatest.Start(t)
	e.kcfg = cluster.Config("dashboard-test")
	// One partition for every record the test produces, so the order they
	// are produced in is the order the console reads them in.
	e.prod = cluster.Client(t, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))

	// The alert source: the console forwards GET /v1/alerts to the
	// alerter's handler; this one answers in the alerter's form.
	e.alerts = &alertSource{}

	// The refresher of the report aggregates, as the all-in-one runs it
	// beside the console.
	ref, err := aggregates.NewRefresher(aggregates.RefreshConfig{Interval: 100 * time.Millisecond, Settle: time.Millisecond, Lookback: time.Minute},
		aggregates.RefreshDeps{Store: engine, Database: e.world.DB, Zones: ten.Zone})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRefresher := context.WithCancel(context.Background())
	refresherDone := make(chan error, 1)
	go func() { refresherDone <- ref.Run(rctx) }()
	t.Cleanup(func() {
		stopRefresher()
		if err := <-refresherDone; err != nil {
			t.Errorf("refresher: %v", err)
		}
	})

	c, err := console.New(console.Config{SQLToken: sqlToken, ShutdownTimeout: 5 * time.Second, ClickHouseURL: biURL},
		console.Deps{Store: engine, Tenants: ten, Database: e.world.DB, Kafka: &e.kcfg, Alerts: e.alerts})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- c.Serve(ctx, ln) }()
	stopped := false
	var serveErr error
	e.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			serveErr = <-served
		}
		return serveErr
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("console: %v", err)
		}
	})

	// Ready: the aggregates are computed and the live feed reads the leads
	// topic.
	// The refresher's first (full) round recomputes account by account, so
	// a report read during it shows part of the network: the aggregates
	// are complete when the report has rows and stops changing over more
	// than three refresh intervals (every row is written before the
	// console starts).
	var last []byte
	var stableSince time.Time
	e.waitUntil(30*time.Second, "the report is complete", func() bool {
		var rep console.ReportAnswer
		if e.getJSON("/v1/reports/channels?from=2026-03-02&to=2026-03-02", netToken, &rep) != http.StatusOK || len(rep.Rows) == 0 {
			return false
		}
		b, _ := json.Marshal(rep.Rows)
		if !bytes.Equal(b, last) {
			last, stableSince = b, time.Now()
			return false
		}
		return time.Since(stableSince) > 350*time.Millisecond
	})
	e.waitUntil(20*time.Second, "the live feed reads the leads topic", func() bool {
		var info dashboard.TenantInfo
		return e.getJSON("/v1/dashboard/tenant", netToken, &info) == http.StatusOK && info.Live == dashboard.LiveOn
	})
	return e
}

// deadLetters writes dead letters as the loader does: net's CRM webhooks
// twice, its call tracker once, and one of another tenant's.
func (e *env) deadLetters() {
	cols := []chstore.Column{
		{Name: "tenant", Type: "LowCardinality(String)"}, {Name: "account", Type: "LowCardinality(String)"},
		{Name: "source", Type: "LowCardinality(String)"}, {Name: "reason", Type: "String"},
		{Name: "received_at", Type: "DateTime64(3, 'UTC')"}, {Name: "payload", Type: "String"},
		{Name: "_topic", Type: "LowCardinality(String)"}, {Name: "_partition", Type: "UInt32"}, {Name: "_offset", Type: "UInt64"},
	}
	ins, err := engine.PrepareInsert(context.Background(), e.world.DB+".dead_letters", cols, "")
	if err != nil {
		e.t.Fatal(err)
	}
	day := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	rows := [][]any{
		{"net", "msk", "crm:amocrm", "deal.amount: not a number", day, "{}"},
		{"net", "spb", "crm:amocrm", "lead.phone: missing", day.Add(time.Hour), "{}"},
		{"net", "msk", "calls:mango", "signature mismatch", day.Add(2 * time.Hour), "{}"},
		{"other", "x1", "crm:bitrix24", "bad token", day, "{}"},
	}
	for i, r := range rows {
		if err := ins.Append(append(r, kafka.TopicDeadLetter, uint32(0), uint64(i))...); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := ins.Send(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// lead produces a lead record to the leads topic, as the stitcher does.
func (e *env) lead(tenant, account, id, channel, source, medium string) {
	e.t.Helper()
	b, err := json.Marshal(entity.Lead{Meta: entity.Meta{Tenant: tenant, Account: account, Version: 100},
		LeadID: id, PersonID: "p-" + id, TS: time.Now().UnixMilli(), Kind: "call", FirstEvent: "e-" + id, Contacts: 1,
		LastContactAt: time.Now().UnixMilli(), Channel: channel, Source: source, Medium: medium, Campaign: "spring", Touches: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	rec := &kgo.Record{Topic: kafka.TopicLeads, Partition: 0, Key: []byte(tenant + "/" + account), Value: b}
	if err := e.prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// alertSource stands in for the alerter behind the console's GET /v1/alerts
// (console.Deps.Alerts): it answers with the alerts given to fire, in the
// alerter's JSON form (the alert record of pkg/contract/alert). A service
// module never imports another (deploy's TestServiceModulesIndependent); the
// real alerter behind the console runs in the all-in-one's e2e tests
// (services/throughline/e2e, demo_alerts_test.go).
type alertSource struct {
	mu     sync.Mutex
	active []alert.Record
}

// fire makes a an active alert.
func (s *alertSource) fire(a alert.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = append(s.active, a)
}

func (s *alertSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant, account := r.URL.Query().Get("tenant"), r.URL.Query().Get("account")
	if r.Method != http.MethodGet || r.URL.Path != "/v1/alerts" || tenant == "" {
		http.Error(w, "bad alerts request", http.StatusBadRequest)
		return
	}
	view := dashboard.AlertsView{Tenant: tenant, State: "live", Active: []alert.Record{}, Recent: []alert.Record{}}
	s.mu.Lock()
	for _, a := range s.active {
		if a.Tenant == tenant && (account == "" || a.Account == account) {
			view.Active = append(view.Active, a)
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(view); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// get sends a GET with the token (if any) and returns the status and body.
func (e *env) get(path, token string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func (e *env) getJSON(path, token string, v any) int {
	e.t.Helper()
	status, body := e.get(path, token)
	if status == http.StatusOK {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(v); err != nil {
			e.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return status
}

// waitUntil polls cond until it holds or timeout passes.
func (e *env) waitUntil(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
