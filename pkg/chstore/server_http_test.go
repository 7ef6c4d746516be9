package chstore_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/throughline/throughline/pkg/chhttp"
	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/tenants"
)

// TestServerOverHTTP runs the server store — clickhouse-go/v2 — over its
// HTTP protocol against the embedded engine's ClickHouse HTTP interface,
// through the same suite as the embedded store: every column type the
// tables use round-trips, a retried insert with its token lands once,
// migrations apply once. (TestServer runs it against a real server when
// one is configured.)
func TestServerOverHTTP(t *testing.T) {
	const user, password = "admin", "test-admin-password-0123"
	engine := chstore.SharedTestStore(t)
	cfg := &tenants.Config{ClickHouse: tenants.ClickHouse{Admin: &tenants.ClickHouseUser{User: user, Password: password}},
		Tenants: []tenants.Tenant{{ID: "t"}}}
	srv, err := chhttp.New(chhttp.Config{Addr: "127.0.0.1:0"}, chhttp.Deps{Log: zerolog.Nop(), Store: engine, Tenants: cfg, Database: "throughline_test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	s, err := chstore.Open(ctx, chstore.Config{Mode: "server", Protocol: "http", Addr: srv.Addr(),
		User: user, Password: password, Database: "throughline_test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chstore.ServerSuite(t, s)
}
