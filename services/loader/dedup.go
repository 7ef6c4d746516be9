package loader

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/event"
)

// Deduplication by event id (docs/design/event-idempotency.md).
//
// A record of a sink with an IDColumn is a duplicate when an earlier record
// of the same topic-partition, already accepted, has the same key
// ("tenant/account") and event id and a Kafka timestamp within the tenant's
// window before it. "Earlier in the partition" makes the decision depend
// only on the log, never on timing: every attempt at a batch — the first, a
// retry, a batch re-formed after a crash or by another member — drops the
// same records, so its insert is the same block under the same token.
//
// The accepted ids live in the event_ids table, written before the rows they
// describe. Looking a batch up there sees every earlier batch: the rounds
// before it had their ids written when they were staged, and the earlier
// batches of the same round are held in memory until theirs are.

// maxWindow is the longest deduplication window: event_ids keeps a day more.
const maxWindow = 30 * 24 * time.Hour

// lookupChunk bounds the hashes looked up in one query.
const lookupChunk = 16384

var eventIDsColumns = []chstore.Column{
	{Name: "id_hash", Type: "UInt64"}, {Name: "record_key", Type: "String"}, {Name: "event_id", Type: "String"},
	{Name: "received_at", Type: "DateTime64(3, 'UTC')"},
	{Name: "_topic", Type: "LowCardinality(String)"}, {Name: "_partition", Type: "UInt32"}, {Name: "_offset", Type: "UInt64"},
}

// seenID is one accepted id: the record's key and id, and its timestamp.
type seenID struct {
	key, id string
	ms      int64
}

// idRow is an accepted id to write to event_ids.
type idRow struct {
	hash   uint64
	seen   seenID
	offset int64
}

// batchIDs is what deduplication found in a batch, aligned with its records.
type batchIDs struct {
	ids  []string // the peeked event id of each record ("" when unreadable)
	dup  []bool   // the record repeats an accepted id
	rows []idRow  // the ids this batch accepts, for event_ids
	dups int
}

func idHash(key, id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return h.Sum64()
}

// window is the deduplication window of the tenant a record key names.
func (l *Loader) window(key string) time.Duration {
	if l.deps.DedupWindow != nil {
		tenant, _, _ := strings.Cut(key, "/")
		if w, ok := l.deps.DedupWindow(tenant); ok {
			return min(w, maxWindow)
		}
	}
	return l.cfg.DedupWindow
}

// peekID reads a record's event id, by a peek when the record is in the
// collector's form, else by a full decode; "" when it cannot be read (the
// record is then bad, and prepare dead-letters it).
func peekID(rec *kgo.Record) (string, bool) {
	if id, ok := event.PeekID(rec.Value); ok {
		return id, true
	}
	e, err := event.DecodeFast(rec.Value)
	if err != nil {
		return "", false
	}
	return e.ID, false
}

// dedup marks the duplicates of the batches of sinks with an IDColumn. Each
// partition's batches are taken in offset order; partitions run in parallel.
func (l *Loader) dedup(ctx context.Context, batches []*batch, final bool) error {
	if l.cfg.DedupWindow <= 0 && l.deps.DedupWindow == nil {
		return nil
	}
	groups := map[*partState][]*batch{}
	for _, b := range batches {
		if b.part.sink.idCol >= 0 && b.dedup == nil {
			groups[b.part] = append(groups[b.part], b)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, l.cfg.Workers)
	)
	for _, g := range groups {
		slices.SortFunc(g, func(a, b *batch) int { return int(a.rng.first - b.rng.first) })
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := l.dedupPartition(ctx, g, final); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// dedupPartition marks the duplicates of one partition's batches, in order.
func (l *Loader) dedupPartition(ctx context.Context, batches []*batch, final bool) error {
	mem := map[uint64][]seenID{} // accepted by the earlier batches of this round
	for _, b := range batches {
		d := &batchIDs{ids: make([]string, len(b.recs)), dup: make([]bool, len(b.recs))}
		hashes := make([]uint64, len(b.recs))
		all := make([]string, len(b.recs))
		for i, rec := range b.recs {
			id, peeked := peekID(rec)
			if id == "" {
				continue
			}
			if peeked {
				d.ids[i] = id
			}
			all[i], hashes[i] = id, idHash(string(rec.Key), id)
		}
		prior, err := l.lookupIDs(ctx, b, hashes, final)
		if err != nil {
			return err
		}
		for i, rec := range b.recs {
			id := all[i]
			if id == "" {
				continue
			}
			s := seenID{key: string(rec.Key), id: id, ms: rec.Timestamp.UnixMilli()}
			h := hashes[i]
			if repeats(prior[h], s, l.window(s.key)) || repeats(mem[h], s, l.window(s.key)) {
				d.dup[i] = true
				d.dups++
				continue
			}
			mem[h] = append(mem[h], s)
			d.rows = append(d.rows, idRow{hash: h, seen: s, offset: rec.Offset})
		}
		b.dedup = d
	}
	return nil
}

// repeats reports whether s repeats one of earlier within window.
func repeats(earlier []seenID, s seenID, window time.Duration) bool {
	if window <= 0 {
		return false
	}
	for _, e := range earlier {
		if e.id == s.id && e.key == s.key && e.ms >= s.ms-window.Milliseconds() {
			return true
		}
	}
	return false
}

// lookupIDs reads the accepted ids of the batch's partition at offsets
// before the batch with one of the hashes.
func (l *Loader) lookupIDs(ctx context.Context, b *batch, hashes []uint64, final bool) (map[uint64][]seenID, error) {
	uniq := make([]uint64, 0, len(hashes))
	seen := make(map[uint64]bool, len(hashes))
	for _, h := range hashes {
		if h != 0 && !seen[h] {
			seen[h] = true
			uniq = append(uniq, h)
		}
	}
	out := map[uint64][]seenID{}
	q := "SELECT id_hash, record_key, event_id, toUnixTimestamp64Milli(received_at) FROM " +
		chstore.QuoteIdent(l.cfg.Database) + `.event_ids
		WHERE _topic = {topic:String} AND _partition = {partition:UInt32} AND _offset < {first:UInt64}
		AND id_hash IN {hashes:Array(UInt64)}`
	for len(uniq) > 0 {
		chunk := uniq[:min(len(uniq), lookupChunk)]
		uniq = uniq[len(chunk):]
		var arr strings.Builder
		arr.WriteByte('[')
		for i, h := range chunk {
			if i > 0 {
				arr.WriteByte(',')
			}
			arr.WriteString(strconv.FormatUint(h, 10))
		}
		arr.WriteByte(']')
		params := chstore.Params{"topic": b.part.sink.Topic, "partition": strconv.Itoa(int(b.part.partition)),
			"first": strconv.FormatInt(b.rng.first, 10), "hashes": arr.String()}
		rt := l.newRetrier(final, "looking up event ids")
		for {
			res, err := l.deps.Store.Query(ctx, q, params)
			if err == nil {
				if err := parseSeen(res, out); err != nil {
					return nil, err
				}
				break
			}
			if err := rt.wait(ctx, err, b.logCtx); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func parseSeen(res *chstore.Result, out map[uint64][]seenID) error {
	for _, row := range res.Rows {
		if len(row) != 4 {
			return fmt.Errorf("looking up event ids: bad row %v", row)
		}
		h, err1 := strconv.ParseUint(fmt.Sprint(row[0]), 10, 64)
		ms, err2 := strconv.ParseInt(fmt.Sprint(row[3]), 10, 64)
		key, ok1 := row[1].(string)
		id, ok2 := row[2].(string)
		if err1 != nil || err2 != nil || !ok1 || !ok2 {
			return fmt.Errorf("looking up event ids: bad row %v", row)
		}
		out[h] = append(out[h], seenID{key: key, id: id, ms: ms})
	}
	return nil
}

// writeIDs writes the ids the batches accept to event_ids, in one insert,
// before any of their rows are inserted. A crash may write them twice; a
// repeated row answers a lookup as the first does.
func (l *Loader) writeIDs(ctx context.Context, batches []*batch, final bool) error {
	var todo []*batch
	for _, b := range batches {
		if b.dedup != nil && !b.idsWritten && len(b.dedup.rows) > 0 {
			todo = append(todo, b)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	table := chstore.QuoteIdent(l.cfg.Database) + ".event_ids"
	rt := l.newRetrier(final, "writing event ids")
	for {
		err := l.writeIDsOnce(ctx, table, todo)
		if err == nil {
			for _, b := range todo {
				b.idsWritten = true
			}
			return nil
		}
		if err := rt.wait(ctx, err, nil); err != nil {
			return err
		}
	}
}

func (l *Loader) writeIDsOnce(ctx context.Context, table string, todo []*batch) error {
	ins, err := l.deps.Store.PrepareInsert(ctx, table, eventIDsColumns, "")
	if err != nil {
		return err
	}
	for _, b := range todo {
		for _, r := range b.dedup.rows {
			if err := ins.Append(r.hash, r.seen.key, r.seen.id, r.seen.ms,
				b.part.sink.Topic, uint32(b.part.partition), uint64(r.offset)); err != nil {
				return err
			}
		}
	}
	return ins.Send(ctx)
}

// checkID is prepare's check that the id a record was deduplicated by is the
// one its row carries: only a hand-made record with two "id" keys differs,
// and it is refused rather than loaded under an id it was not checked by.
func checkID(d *batchIDs, i int, row []any, col int) error {
	if d == nil || d.ids[i] == "" || col < 0 || col >= len(row) {
		return nil
	}
	var got string
	switch v := row[col].(type) {
	case *string:
		got = *v
	case string:
		got = v
	}
	if got != d.ids[i] {
		return fmt.Errorf("event id ambiguous: %q read first, %q decoded", d.ids[i], got)
	}
	return nil
}

// dedupWindowOK checks a configured window.
func dedupWindowOK(w time.Duration) error {
	if w < 0 || w > maxWindow {
		return fmt.Errorf("loader-dedup-window: %s, must be between 0 (off) and %s", w, maxWindow)
	}
	return nil
}
