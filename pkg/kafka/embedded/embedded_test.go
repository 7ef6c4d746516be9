package embedded

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// txn produces values in one transaction of id and commits it (or leaves
// it open, as a killed process does).
func txn(t *testing.T, addr, id string, commit bool, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if commit {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

// committed reads topic t read-committed to its end.
func committed(t *testing.T, addr string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("t"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		cancel()
	}
	return out
}

// TestKilledBrokersOpenTransactionIsMarkedAborted: the process dies with a
// transaction open. The restarted broker gives it its abort marker, so the
// same transactional id's later commits are read — kfake alone marks the
// transaction aborted without a marker, and read-committed readers then
// drop the producer's later output as well.
func TestKilledBrokersOpenTransactionIsMarkedAborted(t *testing.T) {
	dir := t.TempDir()
	b1, err := Start(Config{Port: freePort(t), DataDir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b1.cluster.Close) // abandoned below, as SIGKILL leaves it
	if _, err := kadm.NewClient(mustClient(t, b1.Addr())).CreateTopic(context.Background(), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	txn(t, b1.Addr(), "stitcher", true, "one")
	txn(t, b1.Addr(), "stitcher", false, "zombie-1", "zombie-2")

	b2, err := Start(Config{Port: freePort(t), DataDir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(b2.Repaired) != 1 || b2.Repaired[0].Topic != "t" || b2.Repaired[0].From != 2 {
		t.Fatalf("repaired %+v, want the open transaction of t[0] from offset 2 (0: one, 1: its commit marker)", b2.Repaired)
	}
	txn(t, b2.Addr(), "stitcher", true, "two")
	if got := committed(t, b2.Addr()); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("read committed after the crash: %q, want [one two]", got)
	}

	// A clean stop and start repairs nothing.
	port := freePort(t)
	b2.Close()
	b3, err := Start(Config{Port: port, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	if len(b3.Repaired) != 0 {
		t.Fatalf("repaired after a clean stop: %+v", b3.Repaired)
	}
	if got := committed(t, b3.Addr()); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("after a clean restart: %q", got)
	}
}

func mustClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
