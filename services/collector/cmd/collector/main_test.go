package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run runs the binary as main does, to its error.
func run(ctx context.Context, args []string) error {
	return cli.Run(ctx, service(), args, os.Stderr)
}

// The binary creates the topics, serves a hit into Kafka and stops cleanly.
func TestRun(t *testing.T) {
	cluster := kafkatest.StartEmpty(t)
	dir := t.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	yaml := "tenants:\n  - id: acme\n    accounts:\n      - {id: moscow, write_keys: [test-key-0001]}\n"
	if err := os.WriteFile(tenantsFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"--collector-addr", addr, "--tenants-file", tenantsFile, "--log-level", "error",
			"--kafka-brokers", cluster.Brokers[0],
		})
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := client.Get("http://" + addr + "/px.gif?k=test-key-0001&cid=c1&u=https%3A%2F%2Fa.example%2F")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}

	offs, err := kadm.NewClient(cluster.Client(t)).ListEndOffsets(context.Background(), kafka.TopicRaw, kafka.TopicDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	var raw int64
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("topic %s not created: %v", o.Topic, o.Err)
		}
		if o.Topic == kafka.TopicRaw {
			raw += o.Offset
		}
	})
	if raw != 1 {
		t.Fatalf("%d records on the raw topic, want 1", raw)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	err := run(context.Background(), []string{"--collector-retry-after", "10ms", "--tenants-file", "/nonexistent"})
	if err == nil || err.Error() != "collector-retry-after: must be at least 1s" {
		t.Fatalf("run: %v", err)
	}
}
