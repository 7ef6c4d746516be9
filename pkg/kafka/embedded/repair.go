package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// cleanMark is the file Close leaves in the data dir: its absence at start
// means the previous run was killed.
const cleanMark = "throughline-clean-shutdown"

// repairWindow is how far back from a partition's end unmarked aborts are
// looked for: a transaction open at a crash is the last poll's, far shorter.
const repairWindow = 50_000

// Repaired is one transaction given the abort marker a crash denied it.
type Repaired struct {
	Topic      string
	Partition  int32
	ProducerID int64
	From       int64 // first offset of the aborted transaction
}

// repairUnmarkedAborts writes abort markers for transactions that a killed
// broker left open. kfake, loading its log after a crash, marks them
// aborted in its index but writes no abort marker; a read-committed reader
// (franz-go) told "producer P aborted from offset F" then drops P's
// transactional batches from F until P's marker comes — with none coming it
// drops the producer's later committed output too, and never sees the
// partition's last offsets. The markers are found by fetching each
// partition's tail read-committed: an aborted transaction in the answer with
// no control batch of its producer after it is one the crash left unmarked.
func repairUnmarkedAborts(ctx context.Context, kc kafka.Config) ([]Repaired, error) {
	// Fetch v12 and below name topics (v13 takes topic ids).
	cl, err := kgo.NewClient(append(kc.ConnOpts(), kgo.MaxVersions(kversion.V3_0_0()))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	var out []Repaired
	var errs []error
	ends.Each(func(end kadm.ListedOffset) {
		start, _ := starts.Lookup(end.Topic, end.Partition)
		from := max(start.Offset, end.Offset-repairWindow)
		if end.Offset <= from {
			return
		}
		unmarked, err := findUnmarked(ctx, cl, end.Topic, end.Partition, from, end.Offset)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, u := range unmarked {
			if err := writeAbort(ctx, cl, end.Topic, end.Partition, u.pid, u.epoch); err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, Repaired{Topic: end.Topic, Partition: end.Partition, ProducerID: u.pid, From: u.from})
		}
	})
	return out, errors.Join(errs...)
}

type unmarkedTxn struct {
	pid   int64
	epoch int16
	from  int64
}

// findUnmarked reads [from, end) of a partition read-committed and returns
// the aborted transactions that no control batch of their producer follows.
func findUnmarked(ctx context.Context, cl *kgo.Client, topic string, partition int32, from, end int64) ([]unmarkedTxn, error) {
	type key struct{ pid, first int64 }
	aborted := map[key]bool{}
	controls := map[int64][]int64{} // pid → offsets of its control batches
	epochs := map[int64]int16{}
	for off := from; off < end; {
		p, err := fetchCommitted(ctx, cl, topic, partition, off)
		if err != nil {
			return nil, err
		}
		for _, a := range p.AbortedTransactions {
			aborted[key{a.ProducerID, a.FirstOffset}] = true
		}
		next := off
		for raw := p.RecordBatches; len(raw) > 0; {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw); err != nil {
				break // a partial batch at the end of the answer
			}
			raw = raw[12+int(b.Length):]
			switch {
			case b.Attributes&0x20 != 0: // control batch
				controls[b.ProducerID] = append(controls[b.ProducerID], b.FirstOffset)
			case b.Attributes&0x10 != 0: // transactional data
				epochs[b.ProducerID] = b.ProducerEpoch
			}
			next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
		}
		if next <= off {
			break // nothing more to read (or a batch larger than the limit)
		}
		off = next
	}
	// Each aborted transaction takes its producer's first control batch
	// after its start that no earlier transaction took.
	byPID := map[int64][]int64{}
	for k := range aborted {
		byPID[k.pid] = append(byPID[k.pid], k.first)
	}
	var out []unmarkedTxn
	for pid, firsts := range byPID {
		slices.Sort(firsts)
		ctl := controls[pid]
		slices.Sort(ctl)
		i := 0
		for _, first := range firsts {
			for i < len(ctl) && ctl[i] <= first {
				i++
			}
			if i < len(ctl) {
				i++ // this transaction's marker
				continue
			}
			out = append(out, unmarkedTxn{pid: pid, epoch: epochs[pid], from: first})
		}
	}
	return out, nil
}

// fetchCommitted is one read-committed fetch of a partition at off.
func fetchCommitted(ctx context.Context, cl *kgo.Client, topic string, partition int32, off int64) (kmsg.FetchResponseTopicPartition, error) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 64 << 20
	req.IsolationLevel = 1 // read committed: the answer lists aborted transactions
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = off
	rp.PartitionMaxBytes = 32 << 20
	rp.LogStartOffset = -1
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return kmsg.FetchResponseTopicPartition{}, fmt.Errorf("fetching %s[%d] at %d: %w", topic, partition, off, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return kmsg.FetchResponseTopicPartition{}, fmt.Errorf("fetching %s[%d]: unexpected answer", topic, partition)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return p, fmt.Errorf("fetching %s[%d] at %d: %w", topic, partition, off, err)
	}
	return p, nil
}

func writeAbort(ctx context.Context, cl *kgo.Client, topic string, partition int32, pid int64, epoch int16) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, false
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{partition}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("writing the abort marker of producer %d on %s[%d]: %w", pid, topic, partition, err)
	}
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("writing the abort marker of producer %d on %s[%d]: %w", pid, topic, partition, err)
				}
			}
		}
	}
	return nil
}

// crashed reports whether dir holds data of a run that did not close, and
// clears the clean-shutdown mark for this run.
func crashed(dir string) (bool, error) {
	mark := filepath.Join(dir, cleanMark)
	_, err := os.Stat(mark)
	switch {
	case err == nil:
		return false, os.Remove(mark)
	case !errors.Is(err, os.ErrNotExist):
		return false, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	return len(entries) > 0, nil
}
