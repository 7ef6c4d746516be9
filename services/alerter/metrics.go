package alerter

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

type metrics struct {
	records   metric.Int64Counter
	bad       metric.Int64Counter
	alerts    metric.Int64Counter
	produced  metric.Int64Counter
	open      metric.Int64ObservableGauge
	lag       metric.Float64ObservableGauge
	live      metric.Int64ObservableGauge
	unobserve func() error
}

func newMetrics(mt metric.Meter, a *Alerter) (*metrics, error) {
	m := &metrics{}
	var err error
	if m.records, err = mt.Int64Counter("throughline_alerter_records_total", metric.WithDescription("input records applied, by topic")); err != nil {
		return nil, err
	}
	if m.bad, err = mt.Int64Counter("throughline_alerter_bad_records_total", metric.WithDescription("input records that could not be decoded, by topic (skipped)")); err != nil {
		return nil, err
	}
	if m.alerts, err = mt.Int64Counter("throughline_alerter_alerts_total", metric.WithDescription("incident changes, by kind, severity and status (firing, resolved)")); err != nil {
		return nil, err
	}
	if m.produced, err = mt.Int64Counter("throughline_alerter_alert_records_total", metric.WithDescription("alert records written to the alerts topic, by outcome")); err != nil {
		return nil, err
	}
	if m.open, err = mt.Int64ObservableGauge("throughline_alerter_open_incidents", metric.WithDescription("incidents firing now")); err != nil {
		return nil, err
	}
	if m.lag, err = mt.Float64ObservableGauge("throughline_alerter_event_time_lag_seconds", metric.WithDescription("wall clock minus the alerter's event time")); err != nil {
		return nil, err
	}
	if m.live, err = mt.Int64ObservableGauge("throughline_alerter_live", metric.WithDescription("1 when this instance evaluates and notifies, 0 standing by or catching up")); err != nil {
		return nil, err
	}
	reg, err := mt.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(m.open, int64(len(a.mgr.Active(""))))
		live := int64(0)
		if a.State() == StateLive {
			live = 1
			if now := a.mgr.Now(); !now.IsZero() {
				o.ObserveFloat64(m.lag, a.hooks.wall().Sub(now).Seconds())
			}
		}
		o.ObserveInt64(m.live, live)
		return nil
	}, m.open, m.lag, m.live)
	if err != nil {
		return nil, err
	}
	m.unobserve = reg.Unregister
	return m, nil
}

func topicAttr(topic string) metric.AddOption {
	return metric.WithAttributes(attribute.String("topic", topic))
}

func (m *metrics) alert(a *Alert) {
	m.alerts.Add(context.Background(), 1, metric.WithAttributes(attribute.String("kind", a.Kind),
		attribute.String("severity", a.Severity), attribute.String("status", a.Status)))
}
