package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/throughline/internal/demo"
)

// `throughline demo` on a data dir an older demo created (its tenants file
// has no integrations): the file is completed, and after a short run with
// backfill ClickHouse has calls from Calltouch and Mango, CRM changes from
// amoCRM, Bitrix24 (pulled from the simulated portals) and the generic
// hook, ad costs of every channel in costs_current — and exactly the dead
// letters the story intends: the first pulls of Novosibirsk's blocked
// Bitrix24 portal.
func TestDemoFillsTheTables(t *testing.T) {
	n := newNode(t)
	old := demo.Tenants(1, 20)
	old.Tenants[0].TenantKeys = nil
	for i := range old.Tenants[0].Accounts {
		old.Tenants[0].Accounts[i].CallTracking, old.Tenants[0].Accounts[i].CRM = nil, nil
	}
	if err := demo.WriteTenantsFile(filepath.Join(n.dataDir, "tenants.yaml"), old); err != nil {
		t.Fatal(err)
	}
	n.startAs("demo", "--demo-crm-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--demo-backfill", "120h", "--demo-backfill-per-day", "3000", "--demo-rate", "20",
		"--demo-crm-trickle", "3s", "--demo-costs-every", "2s", "--demo-summary-every", "1h")
	n.waitDemoLive(t, 3*time.Minute)
	// The trickle closes what the history left open: amoCRM and Bitrix24
	// deals won and lost reach the deals table.
	n.waitCount("SELECT uniqExact(provider, outcome) FROM throughline.deals FINAL WHERE tenant = '"+demo.TenantID+
		"' AND provider IN ('amocrm', 'bitrix24') AND outcome IN ('won', 'lost')", 4, time.Minute)
	// Kazan's Direct spend is not uploaded: its cost connector pulls it from
	// the demo's Reports API once the history is known (docs/demo.md).
	n.waitCount("SELECT count() > 0 FROM throughline.costs_current WHERE tenant = '"+demo.TenantID+
		"' AND account = 'kazan' AND channel = 'yandex_direct' AND amount_minor > 0", 1, time.Minute)
	// The collector took every event the demo sent (read while the demo
	// runs: its counters go with it).
	if failed, accepted := n.metric(t, `throughline_demo_events_total{outcome="failed"}`),
		n.metric(t, `throughline_demo_events_total{outcome="accepted"}`); failed != 0 || accepted <= 0 {
		t.Errorf("demo events: %v failed, %v accepted; want none failed\n%s", failed, accepted, tail(n.logs.String(), 4000))
	}
	n.stop()
	// The old file was completed (the tenant key is one of the things an
	// older demo's file lacks; the calls and CRM changes below need the
	// accounts' integrations).
	if up, err := tenants.Load(filepath.Join(n.dataDir, "tenants.yaml")); err != nil || len(up.Tenants[0].TenantKeys) != 1 {
		t.Errorf("the old tenants file was not upgraded (%v)", err)
	}

	// Restart without the demo: the loader loads what is left in Kafka.
	n.start()
	raw := n.records(kafka.TopicRaw)
	n.waitCount("SELECT count() FROM throughline.events", len(raw), time.Minute)

	count := func(sql string) map[string]int64 {
		out := map[string]int64{}
		for _, r := range n.query(sql) {
			var v int64
			fmt.Sscan(fmt.Sprint(r[1]), &v)
			out[fmt.Sprint(r[0])] = v
		}
		return out
	}
	calls := count("SELECT source, count() FROM throughline.events WHERE type = 'call' GROUP BY source")
	crm := count("SELECT source, count() FROM throughline.events WHERE type = 'crm' GROUP BY source")
	costs := count("SELECT concat(channel, if(central, ' central', '')), count() FROM throughline.costs_current WHERE amount_minor > 0 GROUP BY 1")
	dead := count("SELECT concat(source, ' ', account, ' ', if(reason LIKE 'fetch failed: %OVERLOAD_LIMIT%', 'blocked', reason)), count() FROM throughline.dead_letters GROUP BY 1")
	t.Logf("calls %v\ncrm %v\ncosts_current %v\ndead letters %v", calls, crm, costs, dead)
	for _, k := range []string{"hook:calltouch", "hook:mango"} {
		if calls[k] == 0 {
			t.Errorf("no %s calls in events", k)
		}
	}
	for _, k := range []string{"crm:amocrm", "crm:bitrix24", "crm:generic"} {
		if crm[k] == 0 {
			t.Errorf("no %s changes in events", k)
		}
	}
	for _, k := range []string{"yandex_direct", "google_ads central", "vk_ads central", "telegram central", "email central", "offline"} {
		if costs[k] == 0 {
			t.Errorf("no %s rows in costs_current", k)
		}
	}
	if len(dead) != 1 || dead["crm:bitrix24 novosibirsk blocked"] != 3 {
		t.Errorf("dead letters %v, want only the 3 pulls the blocked portal refused", dead)
	}

	// The events table keeps no CRM outcome: read the deals' outcomes from
	// the raw records it was loaded from.
	outcomes, pulled := map[string]int{}, 0
	for _, r := range raw {
		e, err := event.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != event.TypeCRM {
			continue
		}
		if e.CRM.DealID != "" && e.CRM.Outcome != "open" {
			outcomes[e.CRM.Provider+" "+e.CRM.Outcome]++
		}
		if e.CRM.Provider == "bitrix24" && e.CRM.Stage != "" {
			pulled++ // Bitrix24 events carry ids only: the stage came from the portal
		}
	}
	t.Logf("deal outcomes %v; bitrix24 changes with pulled stages %d", outcomes, pulled)
	for _, k := range []string{"amocrm won", "amocrm lost", "bitrix24 won", "bitrix24 lost"} {
		if outcomes[k] == 0 {
			t.Errorf("no %s deals", k)
		}
	}
	if pulled == 0 {
		t.Error("no Bitrix24 entity was pulled from the simulated portals")
	}
}

// waitDemoLive waits until the demo's gauge throughline_demo_live on
// /metrics is 1: its history delivered and taken by the pipeline, live
// traffic running.
func (n *node) waitDemoLive(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for n.metric(t, "throughline_demo_live") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not go live within %v\nlogs:\n%s", within, tail(n.logs.String(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// records reads every record of a topic from the node's broker.
func (n *node) records(topic string) []*kgo.Record {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seeds := kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", n.kafkaPort))
	adm, err := kgo.NewClient(seeds)
	if err != nil {
		n.t.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		n.t.Fatal(err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	cl, err := kgo.NewClient(seeds, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		n.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			n.t.Fatalf("%s: read %d of %d records", topic, len(out), want)
		}
		fs.EachError(func(t string, p int32, err error) { n.t.Logf("fetch %s/%d: %v", t, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}
