package collector

import (
	"context"
	"testing"
	"time"

	segkafka "github.com/segmentio/kafka-go"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
)

// The raw topic is a public contract: a client that is not franz-go reads
// the records and decodes the envelopes.
func TestRecordsReadableByKafkaGo(t *testing.T) {
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	if r := s.events(t, keyOther, "application/x-ndjson", eventsBody(3, true)); r.status != 202 {
		t.Fatalf("answer %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(k.client(t)).ListEndOffsets(ctx, kafka.TopicRaw)
	if err != nil {
		t.Fatal(err)
	}
	var partition int32 = -1
	offs.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if partition >= 0 {
				t.Fatalf("one account's records on partitions %d and %d", partition, o.Partition)
			}
			partition = o.Partition
		}
	})
	r := segkafka.NewReader(segkafka.ReaderConfig{
		Brokers: []string{k.addr}, Topic: kafka.TopicRaw, Partition: int(partition), MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	for i := range 3 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go reading message %d: %v", i, err)
		}
		e, err := event.Decode(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != "other/main" || e.Tenant != "other" || e.Account != "main" || e.Type != event.TypeGoal {
			t.Fatalf("message %d: key %q envelope %+v", i, m.Key, e)
		}
		if e.ClientID == "" || e.ClickIDs["gclid"] == "" || e.Props["i"] == "" {
			t.Fatalf("message %d: envelope %+v", i, e)
		}
	}
}
