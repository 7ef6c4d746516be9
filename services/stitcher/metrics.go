package stitcher

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/telemetry"
)

type metrics struct {
	events     metric.Int64Counter
	bad        metric.Int64Counter
	records    metric.Int64Counter
	txns       metric.Int64Counter
	txnRecords metric.Int64Histogram
	restores   metric.Float64Histogram
	restored   metric.Int64Counter
	oversize   metric.Int64Counter
	pending    metric.Int64ObservableGauge
	clients    metric.Int64ObservableGauge
	unobserve  func() error
}

func newMetrics(tel *telemetry.Telemetry, s *Stitcher) (*metrics, error) {
	m := &metrics{}
	mt := tel.Meter
	var err error
	if m.events, err = mt.Int64Counter("throughline_stitcher_events_total", metric.WithDescription("raw events applied to state")); err != nil {
		return nil, err
	}
	if m.bad, err = mt.Int64Counter("throughline_stitcher_bad_records_total", metric.WithDescription("raw records that are not envelopes (dead-lettered)")); err != nil {
		return nil, err
	}
	if m.records, err = mt.Int64Counter("throughline_stitcher_records_total", metric.WithDescription("entity records produced, by kind")); err != nil {
		return nil, err
	}
	if m.txns, err = mt.Int64Counter("throughline_stitcher_transactions_total", metric.WithDescription("transactions ended, by outcome")); err != nil {
		return nil, err
	}
	if m.txnRecords, err = mt.Int64Histogram("throughline_stitcher_transaction_records", metric.WithDescription("input records per transaction")); err != nil {
		return nil, err
	}
	if m.restores, err = mt.Float64Histogram("throughline_stitcher_restore_seconds", metric.WithDescription("time to read partitions' state back from the changelog")); err != nil {
		return nil, err
	}
	if m.restored, err = mt.Int64Counter("throughline_stitcher_restored_records_total", metric.WithDescription("changelog records read back")); err != nil {
		return nil, err
	}
	if m.oversize, err = mt.Int64Counter("throughline_stitcher_oversize_records_total",
		metric.WithDescription("records the broker refused as larger than it accepts (MESSAGE_TOO_LARGE), by topic: each aborts its transaction, and redoing it makes the same record")); err != nil {
		return nil, err
	}
	if m.pending, err = mt.Int64ObservableGauge("throughline_stitcher_pending_events", metric.WithDescription("events waiting for the watermark")); err != nil {
		return nil, err
	}
	if m.clients, err = mt.Int64ObservableGauge("throughline_stitcher_clients", metric.WithDescription("client ids kept in state")); err != nil {
		return nil, err
	}
	reg, err := mt.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		pending, clients, _ := s.sizes()
		o.ObserveInt64(m.pending, int64(pending))
		o.ObserveInt64(m.clients, int64(clients))
		return nil
	}, m.pending, m.clients)
	if err != nil {
		return nil, err
	}
	m.unobserve = reg.Unregister
	return m, nil
}

// kindAttrs are the attribute options of the entity kinds, made once: they
// are used for every batch of records.
var kindAttrs = func() map[string]metric.AddOption {
	m := map[string]metric.AddOption{}
	for _, k := range kinds {
		m[k] = metric.WithAttributes(attribute.String("kind", k))
	}
	return m
}()

func kindAttr(kind string) metric.AddOption {
	if o, ok := kindAttrs[kind]; ok {
		return o
	}
	return metric.WithAttributes(attribute.String("kind", kind))
}

func outcomeAttr(o string) metric.AddOption {
	return metric.WithAttributes(attribute.String("outcome", o))
}

func topicAttr(topic string) metric.AddOption {
	return metric.WithAttributes(attribute.String("topic", topic))
}
