package chhttp

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestMetrics: every answer is counted by user kind and outcome.
func TestMetrics(t *testing.T) {
	e := startEnv(t)
	reader := sdkmetric.NewManualReader()
	srv, err := New(Config{Addr: "127.0.0.1:0"}, Deps{Log: zerolog.Nop(), Store: e.store, Tenants: testTenants(), Database: testDB,
		Meter: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")})
	if err != nil {
		t.Fatal(err)
	}
	srv.hosts["example.com"] = true // httptest's Host
	send := func(user, pass, sql string) {
		req := httptest.NewRequest("POST", "http://example.com/", strings.NewReader(sql))
		req.SetBasicAuth(user, pass)
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	send(adminUser, adminPass, "SELECT 1")
	send(userA, passA, "SELECT * FROM system.query_log")
	send(userA, "wrong", "SELECT 1")
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "clickhouse_http.queries" {
				for _, dp := range sum.DataPoints {
					k, _ := dp.Attributes.Value("user_kind")
					o, _ := dp.Attributes.Value("outcome")
					got[k.AsString()+"/"+o.AsString()] += dp.Value
				}
			}
		}
	}
	want := map[string]int64{"admin/ok": 1, "tenant/ACCESS_DENIED": 1, "none/AUTHENTICATION_FAILED": 1}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("counted %v, want %v", got, want)
		}
	}
}
