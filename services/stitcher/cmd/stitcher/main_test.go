package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/cli"
	"github.com/throughline/throughline/pkg/kafka/kafkatest"
)

// run runs the binary as main does, to its error.
func run(ctx context.Context, args []string) error {
	return cli.Run(ctx, service(), args, os.Stderr)
}

// TestReplayCommand runs the binary's replay against a fresh broker: it
// creates the topics, replays the (empty) raw topic and exits.
func TestReplayCommand(t *testing.T) {
	c := kafkatest.StartEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := run(ctx, []string{"--kafka-brokers", c.Brokers[0], "--stitcher-replay", "--stitcher-topic-suffix", ".r1",
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
