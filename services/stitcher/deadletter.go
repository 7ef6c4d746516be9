package stitcher

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

// deadLetterRecord is what a raw record the stitcher cannot read becomes:
// the payload and the reason, so it never disappears silently.
func deadLetterRecord(r *kgo.Record, cause error) *kgo.Record {
	tenant, account, _ := strings.Cut(string(r.Key), "/")
	d := event.DeadLetter{
		V: 1, Tenant: tenant, Account: account, Source: "stitcher",
		Reason:     fmt.Sprintf("%v (at %s/%d/%d)", cause, r.Topic, r.Partition, r.Offset),
		ReceivedAt: r.Timestamp.UnixMilli(),
		Payload:    string(r.Value),
	}
	v, _ := json.Marshal(d) // strings and numbers only
	return &kgo.Record{Topic: kafka.TopicDeadLetter, Key: r.Key, Value: v}
}
