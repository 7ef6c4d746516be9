package stitcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/stitcher/internal/stitch"
)

// restore reads the changelog partitions of parts back into fresh state.
// Only this instance writes those partitions now, so it first waits until no
// transaction of a previous owner is open on them (last stable offset equals
// the high watermark); then it reads them up to that offset, read-committed.
func (s *Stitcher) restore(ctx context.Context, parts []int32) (map[int32]*stitch.Set, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RestoreTimeout)
	defer cancel()
	adm := kadm.NewClient(s.admin)
	ends := map[int32]int64{}
	warned := false
	for {
		stable, err := adm.ListCommittedOffsets(ctx, s.topics.state)
		if err == nil {
			err = stable.Error()
		}
		var high kadm.ListedOffsets
		if err == nil {
			high, err = adm.ListEndOffsets(ctx, s.topics.state)
			if err == nil {
				err = high.Error()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("listing changelog offsets: %w", err)
		}
		var open []int32
		for _, p := range parts {
			st, _ := stable.Lookup(s.topics.state, p)
			hi, _ := high.Lookup(s.topics.state, p)
			if st.Offset < hi.Offset {
				open = append(open, p)
			}
			ends[p] = hi.Offset
		}
		if len(open) == 0 {
			break
		}
		if waited := time.Since(start); waited > 5*time.Second && !warned {
			warned = true
			s.log.Warn().Ints32("partitions", open).Dur("waited", waited).Dur("transaction_timeout", s.cfg.TransactionTimeout).
				Msg("restore waits for a previous owner's open transaction on the changelog; the broker aborts it at its timeout")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a previous owner's transaction on the changelog: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}

	// The end to read to is a marker record appended now: the offsets just
	// listed may end in records a read-committed reader is never shown
	// (kfake aborts a crashed broker's open transactions without writing
	// markers), so waiting to see the record at end-1 could wait forever.
	if err := s.markEnds(ctx, parts, ends); err != nil {
		return nil, err
	}
	sets := map[int32]*stitch.Set{}
	assign := map[int32]kgo.Offset{}
	for _, p := range parts {
		sets[p] = stitch.NewSet(s.rules)
		assign[p] = kgo.NewOffset().AtStart()
	}
	var n int64
	if len(assign) > 0 {
		cl, err := kgo.NewClient(append(kafka.BaseOpts(s.deps.Kafka, s.log),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topics.state: assign}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
			kgo.FetchMaxBytes(64<<20))...)
		if err != nil {
			return nil, fmt.Errorf("creating changelog reader: %w", err)
		}
		defer cl.Close()
		latest := map[int32]map[string][]byte{}
		left := len(assign)
		for left > 0 {
			f := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("reading changelog: %w", err)
			}
			var ferr error
			f.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("%s[%d]: %w", t, p, err)) })
			if ferr != nil {
				return nil, fmt.Errorf("reading changelog: %w", ferr)
			}
			f.EachRecord(func(r *kgo.Record) {
				end, ok := ends[r.Partition]
				if !ok || r.Offset >= end {
					return
				}
				if !r.Attrs.IsControl() && string(r.Key) != endMarkerKey {
					if latest[r.Partition] == nil {
						latest[r.Partition] = map[string][]byte{}
					}
					latest[r.Partition][string(r.Key)] = r.Value
					n++
				}
				if r.Offset == end-1 {
					left--
					cl.PauseFetchPartitions(map[string][]int32{s.topics.state: {r.Partition}})
				}
			})
		}
		for p, kv := range latest {
			keys := make([]string, 0, len(kv))
			for k := range kv {
				keys = append(keys, k)
			}
			sortStrings(keys)
			for _, k := range keys {
				if err := sets[p].Restore(k, kv[k]); err != nil {
					return nil, err
				}
			}
		}
	}
	s.met.restores.Record(ctx, time.Since(start).Seconds())
	s.met.restored.Add(ctx, n)
	s.log.Info().Ints32("partitions", parts).Int64("records", n).Dur("took", time.Since(start)).Msg("state restored")
	return sets, nil
}

// endMarkerKey keys the changelog's end markers; no client state has it
// (state keys are "tenant/account/...").
const endMarkerKey = "\x00end-marker"

// markEnds appends an end marker to each changelog partition of parts,
// outside any transaction (so read-committed readers see it at once), and
// sets ends to the offset after it.
func (s *Stitcher) markEnds(ctx context.Context, parts []int32, ends map[int32]int64) error {
	recs := make([]*kgo.Record, len(parts))
	for i, p := range parts {
		recs[i] = &kgo.Record{Topic: s.topics.state, Partition: p, Key: []byte(endMarkerKey), Value: []byte(s.cfg.TransactionalID)}
	}
	if err := s.admin.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("marking the changelog's end: %w", err)
	}
	for _, r := range recs {
		ends[r.Partition] = r.Offset + 1
	}
	return nil
}
