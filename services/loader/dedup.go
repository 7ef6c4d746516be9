package loader

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
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

// dedup marks the duplicates of the batches of sinks with an IDColumn. The
// accepted ids a table's batches may repeat are looked up in one query per
// table (not one per partition); each partition's batches are then taken in
// offset order.
func (l *Loader) dedup(ctx context.Context, batches []*batch, final bool) error {
	if l.cfg.DedupWindow <= 0 && l.deps.DedupWindow == nil {
		return nil
	}
	bySink := map[*sink][]*batch{}
	for _, b := range batches {
		if b.part.sink.idCol >= 0 && b.dedup == nil {
			bySink[b.part.sink] = append(bySink[b.part.sink], b)
		}
	}
	for s, bs := range bySink {
		if err := l.dedupTable(ctx, s, bs, final); err != nil {
			return err
		}
	}
	return nil
}

// peeked is a batch's records' ids and their hashes ("" and 0 when unreadable).
type peeked struct {
	all    []string
	hashes []uint64
}

// dedupTable marks the duplicates of one table's batches.
func (l *Loader) dedupTable(ctx context.Context, s *sink, batches []*batch, final bool) error {
	peeks := make([]peeked, len(batches))
	var wg sync.WaitGroup
	sem := make(chan struct{}, l.cfg.Workers)
	for i, b := range batches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d := &batchIDs{ids: make([]string, len(b.recs)), dup: make([]bool, len(b.recs))}
			pk := peeked{all: make([]string, len(b.recs)), hashes: make([]uint64, len(b.recs))}
			for j, rec := range b.recs {
				id, ok := peekID(rec)
				if id == "" {
					continue
				}
				if ok {
					d.ids[j] = id
				}
				pk.all[j], pk.hashes[j] = id, idHash(string(rec.Key), id)
			}
			b.dedup, peeks[i] = d, pk
		})
	}
	wg.Wait()
	var all []partHash
	for i, pk := range peeks {
		for _, h := range pk.hashes {
			all = append(all, partHash{batches[i].part.partition, h})
		}
	}
	prior, err := l.lookupIDs(ctx, s.Topic, all, final)
	if err != nil {
		for _, b := range batches {
			b.dedup = nil
		}
		return err
	}
	order := make([]int, len(batches))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		if c := cmp.Compare(batches[i].part.partition, batches[j].part.partition); c != 0 {
			return c
		}
		return cmp.Compare(batches[i].rng.first, batches[j].rng.first)
	})
	var mem map[uint64][]seenID // accepted by the earlier batches of this partition in the round
	var memPart *partState
	for _, i := range order {
		b, pk := batches[i], peeks[i]
		if b.part != memPart {
			mem, memPart = map[uint64][]seenID{}, b.part
		}
		d := b.dedup
		for j, rec := range b.recs {
			id := pk.all[j]
			if id == "" {
				continue
			}
			sid := seenID{key: string(rec.Key), id: id, ms: rec.Timestamp.UnixMilli()}
			h := pk.hashes[j]
			w := l.window(sid.key)
			if repeats(prior[h], b, sid, w) || repeatsIn(mem[h], sid, w) {
				d.dup[j] = true
				d.dups++
				continue
			}
			mem[h] = append(mem[h], sid)
			d.rows = append(d.rows, idRow{hash: h, seen: sid, offset: rec.Offset})
		}
	}
	return nil
}

// priorID is an accepted id as event_ids holds it: where it was accepted.
type priorID struct {
	seenID
	partition int32
	offset    int64
}

// repeats reports whether s repeats, within window, an id accepted earlier
// in b's partition: at an offset before b.
func repeats(earlier []priorID, b *batch, s seenID, window time.Duration) bool {
	if window <= 0 {
		return false
	}
	for _, e := range earlier {
		if e.partition == b.part.partition && e.offset < b.rng.first &&
			e.id == s.id && e.key == s.key && e.ms >= s.ms-window.Milliseconds() {
			return true
		}
	}
	return false
}

// repeatsIn reports whether s repeats one of earlier within window.
func repeatsIn(earlier []seenID, s seenID, window time.Duration) bool {
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

// partHash is an id's hash in the partition it was read from.
type partHash struct {
	partition int32
	hash      uint64
}

// lookupIDs reads the accepted ids of the topic with one of the hashes in
// its partition (the table's key order, so the index finds them), with
// where they were accepted; repeats keeps those before a batch.
func (l *Loader) lookupIDs(ctx context.Context, topic string, hashes []partHash, final bool) (map[uint64][]priorID, error) {
	uniq := make([]partHash, 0, len(hashes))
	seen := make(map[partHash]bool, len(hashes))
	for _, h := range hashes {
		if h.hash != 0 && !seen[h] {
			seen[h] = true
			uniq = append(uniq, h)
		}
	}
	out := map[uint64][]priorID{}
	q := "SELECT id_hash, record_key, event_id, toUnixTimestamp64Milli(received_at), _partition, _offset FROM " +
		chstore.QuoteIdent(l.cfg.Database) + `.event_ids
		WHERE _topic = {topic:String} AND (_partition, id_hash) IN {keys:Array(Tuple(UInt32, UInt64))}`
	for len(uniq) > 0 {
		chunk := uniq[:min(len(uniq), lookupChunk)]
		uniq = uniq[len(chunk):]
		var arr strings.Builder
		arr.WriteByte('[')
		for i, h := range chunk {
			if i > 0 {
				arr.WriteByte(',')
			}
			arr.WriteByte('(')
			arr.WriteString(strconv.FormatInt(int64(h.partition), 10))
			arr.WriteByte(',')
			arr.WriteString(strconv.FormatUint(h.hash, 10))
			arr.WriteByte(')')
		}
		arr.WriteByte(']')
		params := chstore.Params{"topic": topic, "keys": arr.String()}
		rt := l.newRetrier(final, "looking up event ids")
		for {
			l.met.statement("event_ids", "query")
			res, err := l.deps.Store.Query(ctx, q, params)
			if err == nil {
				if err := parseSeen(res, out); err != nil {
					return nil, err
				}
				break
			}
			if err := rt.wait(ctx, err, func(ev *zerolog.Event) *zerolog.Event { return ev.Str("topic", topic) }); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func parseSeen(res *chstore.Result, out map[uint64][]priorID) error {
	for _, row := range res.Rows {
		if len(row) != 6 {
			return fmt.Errorf("looking up event ids: bad row %v", row)
		}
		h, err1 := strconv.ParseUint(fmt.Sprint(row[0]), 10, 64)
		ms, err2 := strconv.ParseInt(fmt.Sprint(row[3]), 10, 64)
		part, err3 := strconv.ParseInt(fmt.Sprint(row[4]), 10, 32)
		off, err4 := strconv.ParseInt(fmt.Sprint(row[5]), 10, 64)
		key, ok1 := row[1].(string)
		id, ok2 := row[2].(string)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !ok1 || !ok2 {
			return fmt.Errorf("looking up event ids: bad row %v", row)
		}
		out[h] = append(out[h], priorID{seenID{key: key, id: id, ms: ms}, int32(part), off})
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
	l.met.statement("event_ids", "insert")
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
