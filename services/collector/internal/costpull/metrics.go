package costpull

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics: pulls by connector and result, and each connector's last
// success as a Unix time (absent until the first success since start).
type metrics struct {
	pulls       metric.Int64Counter
	mu          sync.Mutex
	jobs        []*Job
	lastSuccess func(label string) (time.Time, bool)
}

func newMetrics(m metric.Meter) (*metrics, error) {
	out := &metrics{}
	var err error
	out.pulls, err = m.Int64Counter("throughline.costpull.pulls",
		metric.WithDescription("cost pulls by connector (tenant/account/name), provider and result (ok, failed)"))
	if err != nil {
		return nil, err
	}
	last, err := m.Float64ObservableGauge("throughline.costpull.last_success",
		metric.WithDescription("Unix time of each cost connector's last successful pull"), metric.WithUnit("s"))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		out.mu.Lock()
		defer out.mu.Unlock()
		for _, j := range out.jobs {
			if t, ok := out.lastSuccess(j.Label()); ok {
				o.ObserveFloat64(last, float64(t.UnixMilli())/1000, metric.WithAttributes(attrs(j)...))
			}
		}
		return nil
	}, last)
	return out, err
}

func attrs(j *Job) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("connector", j.Label()), attribute.String("provider", j.Provider)}
}

// declare shows a connector's counters at 0 before its first pull.
func (m *metrics) declare(j *Job) {
	m.mu.Lock()
	m.jobs = append(m.jobs, j)
	m.mu.Unlock()
	for _, r := range []string{"ok", "failed"} {
		m.pulls.Add(context.Background(), 0, metric.WithAttributes(append(attrs(j), attribute.String("result", r))...))
	}
}

func (m *metrics) pulled(ctx context.Context, j *Job, ok bool) {
	r := "failed"
	if ok {
		r = "ok"
	}
	m.pulls.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(append(attrs(j), attribute.String("result", r))...))
}
