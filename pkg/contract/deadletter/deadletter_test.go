package deadletter

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

// TestForKeepsPayloadKeyAndWhere: the dead letter carries the raw payload,
// the account from the key, the cause with the record's coordinates, and
// the record's time.
func TestForKeepsPayloadKeyAndWhere(t *testing.T) {
	at := time.UnixMilli(1772445600123)
	rec := &kgo.Record{Topic: kafka.TopicSessions, Partition: 3, Offset: 42, Key: []byte("net/msk"), Value: []byte(`{"bad`), Timestamp: at}
	dl := For("loader", rec, errors.New("decoding session record: unexpected end"))
	if dl.Topic != kafka.TopicDeadLetter || string(dl.Key) != "net/msk" {
		t.Fatalf("topic %q key %q", dl.Topic, dl.Key)
	}
	var d event.DeadLetter
	if err := json.Unmarshal(dl.Value, &d); err != nil {
		t.Fatal(err)
	}
	want := event.DeadLetter{V: 1, Tenant: "net", Account: "msk", Source: "loader",
		Reason:     "decoding session record: unexpected end (at throughline.sessions.v1/3/42)",
		ReceivedAt: 1772445600123, Payload: `{"bad`}
	if d != want {
		t.Fatalf("dead letter %+v, want %+v", d, want)
	}
}

// TestForWithoutKey: a record with no key gives a dead letter of no tenant.
func TestForWithoutKey(t *testing.T) {
	dl := For("stitcher", &kgo.Record{Topic: kafka.TopicRaw, Value: []byte("x")}, errors.New("no"))
	var d event.DeadLetter
	if err := json.Unmarshal(dl.Value, &d); err != nil {
		t.Fatal(err)
	}
	if dl.Key != nil || d.Tenant != "" || d.Account != "" || d.Source != "stitcher" || d.Payload != "x" {
		t.Fatalf("dead letter %+v key %q", d, dl.Key)
	}
}
