package demo

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector"
)

// The demo network through the real collector (its real parsers, key and
// signature checks, CRM pulls from the simulated REST APIs) into Kafka:
// every request is accepted, calls of both vendors and CRM changes of
// every vendor with won and lost deals land on the raw topic for the right
// accounts, costs on the costs topic, and the only dead letters are the
// story's: the blocked Bitrix24 portal's first pulls.
func TestDemoThroughTheCollector(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	kcfg := kafka.Config{Brokers: cluster.ListenAddrs(), ClientID: "demo-test", Replication: 1}
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append(kafka.BaseOpts(kcfg, zerolog.Nop()), opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	adm := client()
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // a deadline, not a measure: the race detector on a busy machine
	defer cancel()
	if err := kafka.EnsureTopics(ctx, kadm.NewClient(adm), 1, kafka.Topics); err != nil {
		t.Fatal(err)
	}
	producer := client(kafka.ProducerOpts(20_000)...)
	defer producer.Close()

	crm := startCRM(t)
	tc := TenantsFor(1, 20, crm.URL()) // every vendor: Megaplan is the 10th branch's, Dynamics the 20th's
	tel, err := telemetry.New(zerolog.Nop(), "demo-test")
	if err != nil {
		t.Fatal(err)
	}
	ccfg := collector.DefaultConfig()
	ccfg.ReplayWindow = 96*time.Hour + 24*time.Hour      // the backfill's signed Mango calls are days old, as in the all-in-one's demo
	ccfg.CostPull.Elect, ccfg.CostPull.Spread = false, 0 // kazan's Direct connector pulls at once, from the demo's Reports API
	c, err := collector.New(ccfg, collector.Deps{Tel: tel, Producer: producer, Keys: tenants.NewKeys(tc), Tenants: tc})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	serveDone := make(chan error, 1)
	go func() { serveDone <- c.Serve(serveCtx, ln) }()
	defer func() {
		stopServe()
		<-serveDone
	}()
	srv := struct{ URL string }{"http://" + ln.Addr().String()}

	var logs syncBuffer
	meter, demoMetrics := demoGauges(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(runCtx, Config{CollectorURL: srv.URL, Rate: 100, Seed: 3, Backfill: 96 * time.Hour, BackfillPerDay: 3000,
			CRM: crm, CRMTrickle: 2 * time.Second, CostsEvery: time.Second, SummaryEvery: time.Hour, Meter: meter}, tc, zerolog.New(&logs))
	}()

	// Read the raw topic as the collector writes it, until the history and
	// the trickle that closes what it left open have brought everything
	// the network does (or the test's deadline passes).
	calls, crmChanges, outcomes, pulled := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	leased := map[string]bool{}
	rawReader := client(kgo.ConsumeTopics(kafka.TopicRaw), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer rawReader.Close()
	var rawRead int64
	readRaw := func() {
		fs := rawReader.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("raw topic: calls %v; crm %v; outcomes %v; pulled %v\n%s", calls, crmChanges, outcomes, pulled, logs.String())
		}
		for _, r := range fs.Records() {
			rawRead++
			e, err := event.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if _, a := tc.Find(e.Tenant, e.Account); a == nil {
				t.Fatalf("event for unknown account %s/%s", e.Tenant, e.Account)
			}
			if strings.HasPrefix(e.Source, "chat:") {
				calls[e.Source]++ // a chat: a goal event of its own source
			}
			switch e.Type {
			case event.TypeCall:
				calls[e.Source]++
				if e.Call.Channel == "offline" {
					calls["offline"]++
				}
				if len(e.Call.ClientIDs) > 0 {
					calls["with client id"]++
				}
				if leased[e.Call.TrackingNumber] {
					calls["to a leased pool number"]++ // live only, as chance has it in a short run
				}
			case event.TypeNumberLease:
				if e.Lease == nil || e.ClientID == "" {
					t.Fatalf("lease without its number or client id: %+v", e)
				}
				leased[e.Lease.Number] = true
				calls["leases"]++
			case event.TypeCRM:
				crmChanges[e.Source]++
				if e.CRM.DealID != "" && e.CRM.Outcome != "open" {
					outcomes[e.CRM.Provider+" "+e.CRM.Outcome]++
				}
				if e.CRM.Provider == crmBitrix24 && e.CRM.Stage != "" || e.CRM.Provider == crmAmoCRM && e.CRM.Stage == amoTrialBooked {
					pulled[e.CRM.Provider]++ // what only the REST API knows: the events carry ids
				}
			}
		}
	}
	complete := func() bool {
		for _, k := range []string{"hook:calltouch", "hook:mango", "hook:alloka", "hook:callibri", "chat:jivo", "offline", "with client id"} {
			if calls[k] == 0 {
				return false
			}
		}
		for _, k := range []string{"amocrm won", "amocrm lost", "bitrix24 won", "bitrix24 lost", "megaplan lost", "dynamics lost"} {
			if outcomes[k] == 0 {
				return false
			}
		}
		// Only 4 branches run the generic CRM: in a short run they close a
		// handful of deals, won or lost as chance has it.
		return outcomes["generic won"]+outcomes["generic lost"] > 0 && pulled[crmAmoCRM] > 0 && pulled[crmBitrix24] > 0
	}
	for !complete() {
		readRaw()
	}
	// Kazan's Direct spend: pulled once the history is known.
	var pull collector.CostConnectorStatus
	for {
		if v := c.CostConnectors(TenantID, "kazan"); len(v.Connectors) == 1 && v.Connectors[0].LastSuccess != 0 {
			pull = v.Connectors[0]
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kazan's Direct connector never pulled: %+v", c.CostConnectors(TenantID, "kazan"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The collector took every event the demo sent it (its counters as
	// /metrics shows them, read while it runs).
	counts := demoMetrics()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f, ok := counts[`throughline_demo_events_total{outcome=failed}`]; !ok || f != 0 || counts[`throughline_demo_events_total{outcome=accepted}`] == 0 {
		t.Fatalf("demo events %v: want none failed\n%s", counts, logs.String())
	}
	// What the collector wrote after: every event is for a known account.
	for rawRead < endOffset(t, ctx, kadm.NewClient(adm), kafka.TopicRaw) {
		readRaw()
	}
	t.Logf("calls %v; crm %v; outcomes %v; pulled %v", calls, crmChanges, outcomes, pulled)

	// Read everything the collector wrote.
	read := func(topic string) []*kgo.Record {
		want := endOffset(t, ctx, kadm.NewClient(adm), topic)
		cl := client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		var out []*kgo.Record
		for int64(len(out)) < want {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s: read %d of %d", topic, len(out), want)
			}
			out = append(out, fs.Records()...)
		}
		return out
	}

	costs := map[string]int{}
	kazanDirect := 0
	for _, r := range read(kafka.TopicCosts) {
		e, err := event.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if e.Account == "kazan" && e.Cost.Channel == "yandex_direct" && !e.Cost.Commit {
			kazanDirect++
		}
		if !e.Cost.Commit && e.Cost.Amount > 0 {
			key := e.Cost.Channel
			if e.Cost.Central {
				key += " central"
			}
			costs[key]++
		}
	}
	t.Logf("cost rows %v; kazan's Direct pull %+v", costs, pull)
	// Yesterday (kazan's zone, Moscow) when the connector pulled, not now:
	// the test may end on the other side of midnight.
	yesterday := dayOf(time.UnixMilli(pull.LastSuccess)).AddDate(0, 0, -1)
	if pull.Provider != "yandex_direct" || pull.To != yesterday.Format(time.DateOnly) ||
		pull.From != yesterday.AddDate(0, 0, 1-directRestateDays).Format(time.DateOnly) || pull.Rows == 0 || kazanDirect != pull.Rows {
		t.Errorf("kazan's Direct pull %+v; %d kazan Direct rows in the costs topic, want the pull's only", pull, kazanDirect)
	}
	for _, k := range []string{"yandex_direct", "google_ads central", "vk_ads central", "telegram central", "email central", "offline"} {
		if costs[k] == 0 {
			t.Errorf("no %s cost rows", k)
		}
	}

	dls := read(kafka.TopicDeadLetter)
	if len(dls) != blockedPulls {
		t.Errorf("%d dead letters, want the %d of the blocked portal", len(dls), blockedPulls)
	}
	for _, r := range dls {
		var dl event.DeadLetter
		if err := json.Unmarshal(r.Value, &dl); err != nil {
			t.Fatal(err)
		}
		if dl.Source != "crm:bitrix24" || dl.Account != blockedBranch || !strings.HasPrefix(dl.Reason, "fetch failed: ") ||
			!strings.Contains(dl.Reason, "OVERLOAD_LIMIT") {
			t.Errorf("unexpected dead letter %+v", dl)
		}
	}
	served, refused := crm.Pulls()
	if served == 0 || refused != blockedPulls {
		t.Errorf("crm server: %d served, %d refused", served, refused)
	}
}

// endOffset is the sum of topic's partitions' end offsets: how many records
// it has (the collector writes no transactions).
func endOffset(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
