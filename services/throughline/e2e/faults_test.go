package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/services/throughline/internal/app"
	"github.com/throughline/throughline/services/throughline/internal/demo"
)

// TestBrokerFaultsRetriedBatchesLandOnce is the chaos test's second variant:
// no process dies, the broker misbehaves between produce and answer. Every
// fifth produce request of the collector is held past the collector's publish
// timeout and then written, so the collector answers 503 for a batch that is
// in Kafka and the sender, as told, sends it again with the same ids — the
// collector has no acknowledgement to remember, so the repeat is published
// too. The all-in-one runs in this process to reach its broker.
func TestBrokerFaultsRetriedBatchesLandOnce(t *testing.T) {
	n := newNode(t)
	n.logs = &syncBuffer{}
	// As the harness does for "run": a generated demo network and the admin
	// token (the console's SQL checks below need it), both from files.
	if err := demo.WriteTenantsFile(filepath.Join(n.dataDir, "tenants.yaml"), demo.Tenants(1, 20)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.adminTokenFile(), []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg app.Config
	fs := flag.NewFlagSet("throughline", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := flagenv.Parse(fs, []string{"--data-dir", n.dataDir, "--kafka-port", fmt.Sprint(n.kafkaPort),
		"--sql-token-file", n.adminTokenFile(), "--clickhouse-http-addr", "off",
		"--collector-addr", n.collector, "--console-addr", n.console, "--log-pretty=false", "--log-level", "warn",
		"--collector-publish-timeout", "300ms", "--collector-retry-after", "1s"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Start(ctx, cfg, n.logs)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cluster := a.KafkaCluster()
	var produces, held atomic.Int64
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		// The collector's produce requests: not transactional (the stitcher's
		// are). Newer requests name topics by id, so the topic is not read.
		if pr.TransactionID != nil || produces.Add(1)%5 != 0 {
			return nil, nil, false
		}
		held.Add(1)
		cluster.SleepControl(func() { time.Sleep(600 * time.Millisecond) })
		return nil, nil, false // now written; the collector answered 503 meanwhile
	})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the all-in-one did not stop")
		}
	})
	for deadline := time.Now().Add(60 * time.Second); !ready("http://"+n.collector+"/readyz") || !ready("http://"+n.console+"/readyz"); {
		if time.Now().After(deadline) {
			t.Fatal("not ready after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	s := newSender(n.collector, n.writeKeys(), "fault")
	sctx, scancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer scancel()
	stop := make(chan struct{})
	wg := s.run(sctx, stop, 4)
	time.Sleep(6 * time.Second)
	close(stop)
	wg.Wait()
	if sctx.Err() != nil {
		t.Fatal("batches were not acknowledged within 90 s")
	}
	s.mu.Lock()
	acked, clients := s.acked, s.clients
	t.Logf("faults: %d produce requests held past the publish timeout, %d batches (%d events) acknowledged, %d answered 503 or not at all and sent again, %d duplicates answered",
		held.Load(), s.batches, len(acked), s.ambiguous, s.duplicates)
	s.mu.Unlock()
	if held.Load() == 0 || s.ambiguous == 0 {
		t.Fatalf("no fault took effect: %d held, %d retried", held.Load(), s.ambiguous)
	}
	n.checkOnce(t, "fault", acked, clients)
}
