package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/schemas/chstoretest"
)

// benchEnvelope is a realistic pageview: URL with UTM tags, a click id, a
// browser user agent and a few properties.
func benchEnvelope(i int) event.Envelope {
	ts := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli() + int64(i)*37
	return event.Envelope{
		V: event.Version, ID: fmt.Sprintf("01J%023d", i), Tenant: "franchise-1", Account: fmt.Sprintf("branch-%d", i%40),
		Type: event.TypePageview, Source: "pixel", TS: ts, ReceivedAt: ts + 120,
		ClientID: fmt.Sprintf("cid.%d.%d", i%5000, 1700000000+i%5000),
		URL:      fmt.Sprintf("https://branch-%d.example.ru/catalog/item-%d?utm_source=yandex&utm_medium=cpc&utm_campaign=spring_sale&yclid=%d", i%40, i%300, 7000000+i),
		Referrer: "https://yandex.ru/search/?text=pizza+delivery",
		UTM:      event.UTM{Source: "yandex", Medium: "cpc", Campaign: "spring_sale"},
		ClickIDs: map[string]string{"yclid": fmt.Sprint(7000000 + i)},
		UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " +
			"Chrome/124.0.0.0 Safari/537.36",
		IP:    fmt.Sprintf("203.0.113.%d", i%250),
		Props: map[string]string{"screen": "1920x1080", "lang": "ru-RU"},
	}
}

// BenchmarkLoader measures rows per second from the raw topic on kfake into
// events on the embedded engine: fetch, decode, encode, insert, commit. Each
// run loads b.N records produced beforehand, with a fresh group and
// database; the clock runs from the group join to the last row. cpu-us/row
// is the process's CPU over the same span. With
// LOADER_BENCH_PROFILE=file it writes a CPU profile of the timed part only;
// LOADER_BENCH_WORKERS=n overrides Config.Workers; LOADER_BENCH_WIDE_BYTES=n
// sets the events table's min_bytes_for_wide_part (the part format).
func BenchmarkLoader(b *testing.B) { benchLoader(b, 0) }

// BenchmarkLoaderDedup is BenchmarkLoader with deduplication by event id
// (the default 7-day window): every batch's ids looked up in event_ids and
// written there before its rows.
func BenchmarkLoaderDedup(b *testing.B) { benchLoader(b, 7*24*time.Hour) }

func benchLoader(b *testing.B, dedup time.Duration) {
	b.StopTimer()
	e := newEnv(b)
	recs := make([]*kgo.Record, 0, 10000)
	for i := 0; i < b.N; i++ {
		ev := benchEnvelope(i)
		v, _ := json.Marshal(ev)
		recs = append(recs, &kgo.Record{Topic: kafka.TopicRaw, Key: ev.Key(), Value: v})
		if len(recs) == cap(recs) || i == b.N-1 {
			e.produce(recs...)
			recs = recs[:0]
		}
	}
	cfg := e.config()
	cfg.MaxRows, cfg.MaxAge, cfg.MaxPollRecords = 50000, 200*time.Millisecond, 50000
	cfg.DedupWindow = dedup
	if w, err := strconv.Atoi(os.Getenv("LOADER_BENCH_WORKERS")); err == nil {
		cfg.Workers = w
	}
	if n, err := strconv.ParseUint(os.Getenv("LOADER_BENCH_WIDE_BYTES"), 10, 64); err == nil {
		// The part format under test: parts below this many bytes are
		// compact (one file for all columns), others wide (files per column).
		q := fmt.Sprintf("ALTER TABLE %s.events MODIFY SETTING min_bytes_for_wide_part = %d", e.db, n)
		if err := engine.Exec(context.Background(), q, nil); err != nil {
			b.Fatal(err)
		}
	}
	l := e.newLoader(cfg, nil)
	// The clock starts when the group is joined: steady-state throughput.
	assigned := make(chan struct{})
	var once sync.Once
	l.hooks.clientOpts = []kgo.Opt{kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
		once.Do(func() { close(assigned) })
	})}
	q := "SELECT count() FROM " + e.db + ".events"
	r := start(l)
	<-assigned
	if path := os.Getenv("LOADER_BENCH_PROFILE"); path != "" {
		f, _ := os.Create(path)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	b.StartTimer()
	t0, cpu0 := time.Now(), cpuTime()
	for e.count(q) < b.N {
		time.Sleep(20 * time.Millisecond)
	}
	took, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	if err := r.stop(b); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/row")
	if dedup > 0 {
		// What the index costs on disk next to the rows it guards.
		for _, t := range []string{"event_ids", "events"} {
			n := e.count("SELECT sum(data_compressed_bytes) FROM system.parts WHERE active AND database = '" + e.db + "' AND table = '" + t + "'")
			b.ReportMetric(float64(n)/float64(b.N), t+"-B/row")
		}
	}
	if err := engine.Exec(context.Background(), "DROP DATABASE "+e.db, nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEngineInsertSelect is the baseline: the engine copying the same
// rows from events into a table of the same definition, with no Go and no
// Kafka in the way.
func BenchmarkEngineInsertSelect(b *testing.B) {
	b.StopTimer()
	ctx := context.Background()
	db := chstoretest.Database(b, engine)
	table := "`" + db + "`.`events`"
	s, err := newSink(EventsSink(), db)
	if err != nil {
		b.Fatal(err)
	}
	for from := 0; from < b.N; from += 100000 {
		ins, err := engine.PrepareInsert(ctx, table, s.cols, "")
		if err != nil {
			b.Fatal(err)
		}
		for i := from; i < min(from+100000, b.N); i++ {
			ev := benchEnvelope(i)
			if err := ins.Append(append(envelopeRow(&ev), kafka.TopicRaw, uint32(i%rawPartitions), uint64(i))...); err != nil {
				b.Fatal(err)
			}
		}
		if err := ins.Send(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := engine.Exec(ctx, "CREATE TABLE "+db+".events_copy AS "+db+".events", nil); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	t0, cpu0 := time.Now(), cpuTime()
	if err := engine.Exec(ctx, "INSERT INTO "+db+".events_copy SELECT * FROM "+db+".events", nil); err != nil {
		b.Fatal(err)
	}
	took, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/row")
	if err := engine.Exec(ctx, "DROP DATABASE "+db, nil); err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the CPU the test process has used, kfake and the engine's
// threads included. Per row it compares runs that rows/s cannot when the
// machine's other load changes between them.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
