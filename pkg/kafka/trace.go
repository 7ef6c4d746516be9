package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
)

// headerCarrier lets OpenTelemetry propagators read and write record headers,
// so a trace started at the collector continues in the loader and stitcher.
type headerCarrier struct{ r *kgo.Record }

func (c headerCarrier) Get(key string) string {
	for _, h := range c.r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c headerCarrier) Set(key, val string) {
	for i, h := range c.r.Headers {
		if h.Key == key {
			c.r.Headers[i].Value = []byte(val)
			return
		}
	}
	c.r.Headers = append(c.r.Headers, kgo.RecordHeader{Key: key, Value: []byte(val)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, len(c.r.Headers))
	for i, h := range c.r.Headers {
		keys[i] = h.Key
	}
	return keys
}

// InjectTrace writes the trace context of ctx into the record's headers.
func InjectTrace(ctx context.Context, r *kgo.Record) {
	otel.GetTextMapPropagator().Inject(ctx, headerCarrier{r})
}

// ExtractTrace returns ctx carrying the trace context found in the record's headers.
func ExtractTrace(ctx context.Context, r *kgo.Record) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, headerCarrier{r})
}
