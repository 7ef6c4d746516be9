// Package topicwindow finds the records of a topic written since a time:
// what the collector reads back at start (number leases, recent event ids)
// to know what it published before it restarted.
package topicwindow

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Window is where a topic's records written since a time are.
type Window struct {
	topic        string
	starts, ends kadm.ListedOffsets
}

// List lists the window of topic since since: the end offsets (the high
// watermarks now) and the first offsets at or after since. cl is any client
// of the cluster (the producer).
func List(ctx context.Context, cl *kgo.Client, topic string, since time.Time) (Window, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Window{}, fmt.Errorf("listing %s end offsets: %w", topic, err)
	}
	starts, err := adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return Window{}, fmt.Errorf("listing %s offsets after %v: %w", topic, since, err)
	}
	return Window{topic: topic, starts: starts, ends: ends}, nil
}

// Reads are the partitions with records in the window: the offset to
// start reading at and the end offset to read up to (exclusive).
func (w Window) Reads() (start map[int32]kgo.Offset, end map[int32]int64) {
	start, end = map[int32]kgo.Offset{}, map[int32]int64{}
	w.starts.Each(func(o kadm.ListedOffset) {
		if e, ok := w.ends.Lookup(w.topic, o.Partition); ok && o.Offset < e.Offset {
			start[o.Partition] = kgo.NewOffset().At(o.Offset)
			end[o.Partition] = e.Offset
		}
	})
	return start, end
}

// Start is partition p's first offset at or after the window's start.
func (w Window) Start(p int32) (int64, bool) {
	o, ok := w.starts.Lookup(w.topic, p)
	return o.Offset, ok
}
