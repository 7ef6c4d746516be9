package kafkatest

import (
	"context"
	"testing"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
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

// EndOffset counts what was written; Committed what a group committed, and
// -1 while the broker refuses to say.
func TestEndOffsetCommitted(t *testing.T) {
	c := StartEmpty(t, kfake.SeedTopics(3, "t"))
	cl := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		for range p + 1 {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := c.EndOffset(t, "t"); n != 6 {
		t.Fatalf("end offset %d, want 6", n)
	}
	if n := c.Committed("g", "t"); n != 0 {
		t.Fatalf("committed %d by a group that never committed, want 0", n)
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "t", Partition: 0, At: 1})
	offs.Add(kadm.Offset{Topic: "t", Partition: 2, At: 2})
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "g", offs); err != nil {
		t.Fatal(err)
	}
	if n := c.Committed("g", "t"); n != 3 {
		t.Fatalf("committed %d, want 3", n)
	}
	c.ControlKey(kmsg.OffsetFetch.Int16(), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.OffsetFetchRequest)
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.Version, resp.ErrorCode = req.Version, kerr.GroupAuthorizationFailed.Code
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil, true
	})
	if n := c.Committed("g", "t"); n != -1 {
		t.Fatalf("committed %d while the broker refuses, want -1", n)
	}
}
