package kafkatest

import (
	"context"
	"testing"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cluster has the project's topics, and a held produce is acknowledged
// once released.
func TestStartHoldRelease(t *testing.T) {
	c := Start(t)
	cl := c.Client(t)
	for _, topic := range []string{kafka.TopicRaw, kafka.TopicDeadLetter, kafka.TopicNumbers} {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("z")}).FirstErr(); err != nil {
			t.Errorf("topic %s: %v", topic, err)
		}
	}
	release := c.Hold(t, kmsg.Produce)
	acked := make(chan error, 1)
	cl.Produce(context.Background(), &kgo.Record{Topic: kafka.TopicRaw, Value: []byte("x")}, func(_ *kgo.Record, err error) { acked <- err })
	select {
	case err := <-acked:
		t.Fatalf("a held produce was answered (%v) before release", err)
	default:
	}
	release()
	if err := <-acked; err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// An empty cluster has only the topics its options seed.
func TestStartEmpty(t *testing.T) {
	c := StartEmpty(t, kfake.SeedTopics(2, "seeded"))
	topics, err := kadm.NewClient(c.Client(t)).ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := topics.Names(); len(got) != 1 || got[0] != "seeded" || len(topics["seeded"].Partitions) != 2 {
		t.Fatalf("topics %v, want only seeded with 2 partitions", got)
	}
}
