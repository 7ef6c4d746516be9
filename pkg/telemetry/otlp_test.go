package telemetry

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// TestSpansExportedOverOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT set, ended
// spans reach the collector at /v1/traces as OTLP protobuf, named after the
// service, by Shutdown at the latest.
func TestSpansExportedOverOTLP(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)

	tel, err := New(zerolog.Nop(), "stitcher")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer.Start(context.Background(), "stitcher transaction")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	all := bytes.Join(bodies, nil)
	if !bytes.Contains(all, []byte("stitcher transaction")) || !bytes.Contains(all, []byte("throughline-stitcher")) {
		t.Fatalf("%d requests; the span or the service name is missing", len(bodies))
	}
}

// TestNoEndpointNoExport: without the variable nothing is sent anywhere,
// and spans still have valid contexts for Kafka headers.
func TestNoEndpointNoExport(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tel, err := New(zerolog.Nop(), "loader")
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer.Start(context.Background(), "x")
	if !span.SpanContext().IsValid() {
		t.Fatal("span context invalid without an exporter")
	}
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
