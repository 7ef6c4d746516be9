package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

// Clients we did not write read what the pipeline wrote: kafka-go here,
// librdkafka's kcat below.
func TestRawTopicReadableByKafkaGo(t *testing.T) {
	n := newNode(t)
	n.start()
	tenant, account, key := n.key()
	n.pixel(key, "cid-kafka-go", "https://branch.example/price?gclid=g-1")

	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: []string{fmt.Sprintf("127.0.0.1:%d", n.kafkaPort)},
		Topic:   kafka.TopicRaw, GroupID: "e2e-kafka-go", StartOffset: kafkago.FirstOffset,
		MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msg, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("kafka-go could not read the raw topic: %v", err)
	}
	if string(msg.Key) != tenant+"/"+account {
		t.Fatalf("record key %q, want %s/%s", msg.Key, tenant, account)
	}
	var env event.Envelope
	if err := json.Unmarshal(msg.Value, &env); err != nil {
		t.Fatal(err)
	}
	if env.ClientID != "cid-kafka-go" || env.ClickIDs["gclid"] != "g-1" || env.Account != account {
		t.Fatalf("unexpected envelope %+v", env)
	}
}

func needTool(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("THROUGHLINE_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is required (THROUGHLINE_REQUIRE_TOOLS is set) but not on PATH", name)
		}
		t.Skipf("%s not installed (make test installs it through .ci/run)", name)
	}
	return p
}

func TestKcatListsTopicsAndReadsRaw(t *testing.T) {
	kcat := needTool(t, "kcat")
	n := newNode(t)
	n.start()
	_, _, key := n.key()
	n.pixel(key, "cid-kcat", "https://branch.example/")
	broker := fmt.Sprintf("127.0.0.1:%d", n.kafkaPort)

	out, err := exec.Command(kcat, "-b", broker, "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	for _, topic := range kafka.Topics {
		if !strings.Contains(string(out), `topic "`+topic.Name+`"`) {
			t.Fatalf("kcat -L does not list %s:\n%s", topic.Name, out)
		}
	}
	out, err = exec.Command(kcat, "-b", broker, "-C", "-t", kafka.TopicRaw, "-o", "beginning", "-e", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"client_id":"cid-kcat"`) {
		t.Fatalf("kcat did not read the pixel's envelope:\n%s", out)
	}
}
