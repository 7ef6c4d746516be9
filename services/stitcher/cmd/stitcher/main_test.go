package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/throughline/throughline/pkg/cli"
)

// run runs the binary as main does, to its error.
func run(ctx context.Context, args []string) error {
	return cli.Run(ctx, service(), args, os.Stderr)
}

// TestReplayCommand runs the binary's replay against a fresh broker: it
// creates the topics, replays the (empty) raw topic and exits.
func TestReplayCommand(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = run(ctx, []string{"--kafka-brokers", c.ListenAddrs()[0], "--stitcher-replay", "--stitcher-topic-suffix", ".r1",
		"--stitcher-metrics-addr", "", "--log-level", "warn"})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("replay of an empty topic did not finish")
	}
}

func TestBadFlags(t *testing.T) {
	if err := run(context.Background(), []string{"--stitcher-replay", "--kafka-brokers", "x:1"}); err == nil {
		t.Error("replay without a topic suffix accepted")
	}
}
