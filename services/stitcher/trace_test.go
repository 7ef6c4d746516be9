package stitcher

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/telemetry"
)

// TestTransactionSpanLinksInputAndMarksOutput: the collector's trace
// context on a raw record is linked from the stitcher's transaction span,
// and the entity records carry that span on to the loader.
func TestTransactionSpanLinksInputAndMarksOutput(t *testing.T) {
	e := newEnv(t)
	rec := tracetest.NewSpanRecorder()
	tel := telemetry.Nop()
	tel.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")

	// A collector request's span, carried in the raw record's headers.
	ctx, collectorSpan := tel.Tracer.Start(context.Background(), "collector request")
	collectorSpan.End()
	ev := genEvents(5, 1)[0]
	v, _ := json.Marshal(&ev)
	r := &kgo.Record{Topic: kafka.TopicRaw, Partition: partitionOf(string(ev.Key())), Key: ev.Key(), Value: v}
	kafka.InjectTrace(ctx, r)
	if err := e.prod.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.events[r.Partition] = append(e.events[r.Partition], ev)

	cfg := e.config("trace")
	s, err := New(cfg, Deps{Tel: tel, Kafka: e.kcfg})
	if err != nil {
		t.Fatal(err)
	}
	run := start(s)
	e.waitDone(s, cfg.Group)
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}

	spans := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range rec.Ended() {
		if sp.Name() == "stitcher transaction" {
			spans[sp.SpanContext().SpanID()] = sp
		}
	}
	// From the span a record carries, the links lead back to the collector's
	// trace: directly, or through the transaction that consumed the event
	// when its output waited for the watermark.
	reaches := func(id trace.SpanID) bool {
		for depth, next := 0, []trace.SpanID{id}; depth < 4 && len(next) > 0; depth++ {
			var more []trace.SpanID
			for _, id := range next {
				sp, ok := spans[id]
				if !ok {
					continue
				}
				for _, l := range sp.Links() {
					if l.SpanContext.TraceID() == collectorSpan.SpanContext().TraceID() {
						return true
					}
					more = append(more, l.SpanContext.SpanID())
				}
			}
			next = more
		}
		return false
	}
	out := e.readAll(kafka.TopicSessions)
	if len(out) == 0 {
		t.Fatal("no session records")
	}
	for _, o := range out {
		sc := trace.SpanContextFromContext(kafka.ExtractTrace(context.Background(), o))
		if !sc.IsValid() || !reaches(sc.SpanID()) {
			t.Fatalf("session record's span %v does not lead back to the collector's trace (%d transaction spans)", sc, len(spans))
		}
	}
}

// readAll reads a topic read-committed from its start for a moment.
func (e *env) readAll(topic string) []*kgo.Record {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kcfg.Brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
		cancel()
	}
	return out
}
