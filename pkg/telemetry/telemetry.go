// Package telemetry sets up what every service reports about itself: zerolog
// logs, OpenTelemetry metrics exposed for Prometheus at /metrics, a tracer
// provider whose context travels in Kafka headers, and health endpoints.
package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry is the set of observability handles passed into components.
type Telemetry struct {
	Log      zerolog.Logger
	Meter    metric.Meter
	Tracer   trace.Tracer
	registry *prometheus.Registry
	mp       *sdkmetric.MeterProvider
	tp       *sdktrace.TracerProvider
}

// NewLogger builds a JSON zerolog logger at the given level ("debug", "info", ...);
// pretty=true writes human-readable lines, coloured only when w is a
// terminal and NO_COLOR (no-color.org) is unset: escape codes in a file or a
// pipe are noise to whoever reads it.
func NewLogger(w io.Writer, level string, pretty bool) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("log level: %q is not one of trace, debug, info, warn, error", level)
	}
	if pretty {
		noColor := !isTerminal(w) || os.Getenv("NO_COLOR") != ""
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: noColor}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// New creates metrics and tracing for one process. The trace-context
// propagator is installed globally so Kafka headers carry W3C traceparent.
func New(log zerolog.Logger, service string) (*Telemetry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("creating prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	tp, err := tracerProvider(log, service)
	if err != nil {
		return nil, err
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return &Telemetry{
		Log:      log,
		Meter:    mp.Meter("throughline/" + service),
		Tracer:   tp.Tracer("throughline/" + service),
		registry: reg,
		mp:       mp,
		tp:       tp,
	}, nil
}

// tracerProvider exports spans over OTLP/HTTP when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT) variable names a
// collector (Jaeger, Tempo, an OpenTelemetry Collector…); the exporter reads
// the other OTEL_EXPORTER_OTLP_* variables (headers, timeout) itself.
// Without one, spans still give Kafka records their trace context.
func tracerProvider(log zerolog.Logger, service string) (*sdktrace.TracerProvider, error) {
	endpoint := cmp.Or(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	if endpoint == "" {
		return sdktrace.NewTracerProvider(), nil
	}
	exp, err := otlptracehttp.New(context.Background())
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP trace exporter for %s: %w", endpoint, err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "throughline-"+service))
	log.Info().Str("endpoint", endpoint).Msg("exporting traces over OTLP/HTTP")
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// Nop is telemetry that records nothing, for tests that do not look at it.
func Nop() *Telemetry {
	t, _ := New(zerolog.Nop(), "nop")
	return t
}

// MetricsHandler serves the Prometheus exposition of this process's metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes metric and trace providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.mp.Shutdown(ctx), t.tp.Shutdown(ctx))
}

// Health tracks readiness checks of a service for /readyz.
type Health struct {
	mu     sync.Mutex
	checks map[string]func(context.Context) error
}

// AddCheck registers a named readiness check.
func (h *Health) AddCheck(name string, fn func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.checks == nil {
		h.checks = map[string]func(context.Context) error{}
	}
	h.checks[name] = fn
}

// Mount adds /healthz (the process is alive), /readyz (every check passes)
// and /metrics to mux.
func (t *Telemetry) Mount(mux *http.ServeMux, h *Health) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		h.mu.Lock()
		checks := make(map[string]func(context.Context) error, len(h.checks))
		for k, v := range h.checks {
			checks[k] = v
		}
		h.mu.Unlock()
		var failed []string
		for name, fn := range checks {
			if err := fn(ctx); err != nil {
				failed = append(failed, name+": "+err.Error())
			}
		}
		if len(failed) > 0 {
			http.Error(w, "not ready\n"+strings.Join(failed, "\n"), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", t.MetricsHandler())
}

// Stderr is the default log destination.
var Stderr io.Writer = os.Stderr

// isTerminal reports whether w is a character device (a terminal), without a
// dependency: a file or a pipe is not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
