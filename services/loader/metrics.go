package loader

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/telemetry"
)

// metrics are the loader's instruments. Names become Prometheus names with
// dots as underscores (loader_rows_inserted_total, loader_freshness_seconds…).
type metrics struct {
	meter          metric.Meter
	rowsInserted   metric.Int64Counter
	batchRows      metric.Int64Histogram
	insertDuration metric.Float64Histogram
	freshness      metric.Float64Histogram
	deadLetters    metric.Int64Counter
	insertRetries  metric.Int64Counter
	commitFailures metric.Int64Counter
	lag            metric.Int64ObservableGauge
	duplicates     metric.Int64Counter
	statements     metric.Int64Counter
	// stmts counts the statements the loader sent to the engine, by table and
	// kind ("insert", "query"), for tests and the bench.
	stmtMu sync.Mutex
	stmts  map[string]int64
}

func newMetrics(tel *telemetry.Telemetry) (*metrics, error) {
	m := &metrics{meter: tel.Meter}
	var errs [10]error
	m.rowsInserted, errs[0] = m.meter.Int64Counter("loader.rows.inserted",
		metric.WithDescription("Rows inserted into ClickHouse, by table."), metric.WithUnit("{row}"))
	m.batchRows, errs[1] = m.meter.Int64Histogram("loader.batch.rows",
		metric.WithDescription("Rows per inserted batch."), metric.WithUnit("{row}"),
		metric.WithExplicitBucketBoundaries(1, 10, 100, 500, 1000, 5000, 10000, 20000, 50000, 100000))
	m.insertDuration, errs[2] = m.meter.Float64Histogram("loader.insert.duration",
		metric.WithDescription("Time ClickHouse took to accept a batch."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	m.freshness, errs[3] = m.meter.Float64Histogram("loader.freshness",
		metric.WithDescription("End-to-end freshness: insert time minus the time the pipeline accepted the input."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600))
	m.deadLetters, errs[4] = m.meter.Int64Counter("loader.dead_letters",
		metric.WithDescription("Bad records: produced to the dead-letter topic, or skipped (bad dead letters)."))
	m.insertRetries, errs[5] = m.meter.Int64Counter("loader.insert.retries",
		metric.WithDescription("Failed ClickHouse inserts that were retried."))
	m.commitFailures, errs[6] = m.meter.Int64Counter("loader.commit.failures",
		metric.WithDescription("Offset commits Kafka refused (retried with the next commit)."))
	m.lag, errs[7] = m.meter.Int64ObservableGauge("loader.consumer.lag",
		metric.WithDescription("Records of a partition not yet loaded and committed (high watermark minus next offset)."),
		metric.WithUnit("{record}"))
	m.duplicates, errs[8] = m.meter.Int64Counter("loader.duplicates",
		metric.WithDescription("Records not loaded because they repeat an event id accepted within the window, by table."),
		metric.WithUnit("{record}"))
	m.statements, errs[9] = m.meter.Int64Counter("loader.statements",
		metric.WithDescription("Statements the loader sent to ClickHouse, by table and kind (insert, query): the engine's work per flush."),
		metric.WithUnit("{statement}"))
	m.stmts = map[string]int64{}
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) tableAttr(table string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("table", table)))
}

func (m *metrics) topicAction(topic, action string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("topic", topic), attribute.String("action", action)))
}

// statement counts one statement sent to the engine.
func (m *metrics) statement(table, kind string) {
	m.statements.Add(context.Background(), 1, metric.WithAttributeSet(
		attribute.NewSet(attribute.String("table", table), attribute.String("kind", kind))))
	m.stmtMu.Lock()
	m.stmts[kind+" "+table]++
	m.stmtMu.Unlock()
}

// statementCount is how many statements of kind went to table so far.
func (m *metrics) statementCount(kind, table string) int64 {
	m.stmtMu.Lock()
	defer m.stmtMu.Unlock()
	return m.stmts[kind+" "+table]
}

// inserted records one accepted batch.
func (m *metrics) inserted(table string, rows int, took time.Duration, received []int64) {
	ctx := context.Background()
	attr := m.tableAttr(table)
	m.rowsInserted.Add(ctx, int64(rows), attr)
	m.batchRows.Record(ctx, int64(rows), attr)
	m.insertDuration.Record(ctx, took.Seconds(), attr)
	now := time.Now().UnixMilli()
	for _, ms := range received {
		m.freshness.Record(ctx, float64(now-ms)/1000, attr)
	}
}

// observeLag reports each assigned partition's lag from the high watermark
// of its last fetch.
func (m *metrics) observeLag(l *Loader) (metric.Registration, error) {
	return m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for k, p := range l.parts {
			o.ObserveInt64(m.lag, p.lag(), metric.WithAttributes(
				attribute.String("topic", k.topic), attribute.Int("partition", int(k.partition))))
		}
		return nil
	}, m.lag)
}
