package alerter

import (
	"context"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/embedded"
)

// TestLiveAfterTheBrokerCrashedWithAnOpenTransaction: the all-in-one was
// killed while the stitcher's transaction held records on a leads
// partition. kfake alone, restarting, aborts that transaction without a
// marker, so a read-committed reader never reaches the partition's end and
// the alerter stayed catching up; the embedded broker writes the marker
// at start, and the alerter goes live.
func TestLiveAfterTheBrokerCrashedWithAnOpenTransaction(t *testing.T) {
	e := newEnv(t, e2eRules) // the receiver, rules and tenants; its own broker is not used
	dir := t.TempDir()
	b1, err := embedded.Start(embedded.Config{Port: freePort(t), DataDir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b1.Cluster().Close) // abandoned below, as a SIGKILL leaves it
	cl, err := kgo.NewClient(kgo.SeedBrokers(b1.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	err = kafka.EnsureTopics(context.Background(), kadm.NewClient(cl), 1, kafka.Topics)
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	zombie, err := kgo.NewClient(kgo.SeedBrokers(b1.Addr()), kgo.TransactionalID("crashed-stitcher"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(context.Background(), &kgo.Record{Topic: kafka.TopicLeads, Partition: 1, Key: []byte("acme/msk"), Value: []byte(`{}`)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	zombie.Close() // no EndTxn: the crash

	b2, err := embedded.Start(embedded.Config{Port: freePort(t), DataDir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b2.Close)
	if len(b2.Repaired) != 1 || b2.Repaired[0].Topic != kafka.TopicLeads {
		t.Fatalf("repaired %+v, want the leads transaction", b2.Repaired)
	}
	e.kcfg = kafka.Config{Brokers: []string{b2.Addr()}, ClientID: "alerter-test", Replication: 1}
	a := e.start(testConfig())
	a.waitLive(t)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
