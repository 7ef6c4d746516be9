// Package deadletter builds the dead-letter record a consumer produces for a
// Kafka record it cannot read (the stitcher for raw events, the loader for
// any topic it loads): the payload as it arrived, why it was refused and
// where it was read from, so nothing accepted disappears silently. The
// value is an event.DeadLetter on kafka.TopicDeadLetter
// (schemas/events/deadletter.schema.json).
package deadletter

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

// For is the dead letter that source (the consumer: "stitcher", "loader")
// produces for rec, refused because of cause. It keeps rec's key
// ("tenant/account"), so the dead letter lands with its account.
func For(source string, rec *kgo.Record, cause error) *kgo.Record {
	tenant, account, _ := strings.Cut(string(rec.Key), "/")
	d := event.DeadLetter{
		V: 1, Tenant: tenant, Account: account, Source: source,
		Reason:     fmt.Sprintf("%v (at %s/%d/%d)", cause, rec.Topic, rec.Partition, rec.Offset),
		ReceivedAt: rec.Timestamp.UnixMilli(),
		Payload:    string(rec.Value),
	}
	v, _ := json.Marshal(d) // cannot fail: strings and numbers only
	return &kgo.Record{Topic: kafka.TopicDeadLetter, Key: rec.Key, Value: v}
}
