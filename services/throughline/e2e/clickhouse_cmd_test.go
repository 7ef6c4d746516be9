package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/schemas"
)

// TestClickHouseCommand runs `throughline clickhouse` — the embedded engine
// alone, migrated, over ClickHouse's HTTP interface — and connects to it as
// the distributed services do (the server store over HTTP, as the admin)
// and as a data team does (a tenant's read-only user).
func TestClickHouseCommand(t *testing.T) {
	dir := t.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	const admin, adminPass, user, userPass = "admin", "e2e-admin-password-01", "acme_ro", "e2e-tenant-password-01"
	yaml := fmt.Sprintf("clickhouse:\n  admin: {user: %s, password: %s}\ntenants:\n  - id: acme\n    clickhouse_users:\n      - {user: %s, password: %s}\n",
		admin, adminPass, user, userPass)
	if err := os.WriteFile(tenantsFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(binary, "clickhouse", "--data-dir", dir, "--tenants-file", tenantsFile, "--clickhouse-http-addr", addr, "--log-pretty=false")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for !ready("http://" + addr + "/ping") {
		select {
		case err := <-exited:
			t.Fatalf("throughline clickhouse exited: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after 60s:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx := context.Background()
	store, err := chstore.Open(ctx, chstore.Config{Mode: "server", Protocol: "http", Addr: addr, User: admin, Password: adminPass, Database: "throughline"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	res, err := store.Query(ctx, "SELECT count() FROM system.tables WHERE database = 'throughline' AND name IN ('events', 'sessions', 'leads', 'deals', 'costs', 'attribution')", nil)
	if err != nil || fmt.Sprint(res.Rows) != "[[6]]" {
		t.Fatalf("migrated tables: %v, %v", res, err)
	}
	// Every migration runs through the interface too, as a loader run apart
	// applies them (into a second database, the first is migrated at start).
	if err := schemas.Migrate(ctx, store, "throughline_http"); err != nil {
		t.Fatalf("migrations over HTTP: %v", err)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Protocol: clickhouse.HTTP, Addr: []string{addr},
		Auth: clickhouse.Auth{Database: "throughline", Username: user, Password: userPass}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&n); err != nil || n != 0 {
		t.Fatalf("tenant count: %d, %v", n, err)
	}
	var ex *clickhouse.Exception
	if err := conn.QueryRow(ctx, "SELECT count() FROM loader_batches").Scan(&n); !errors.As(err, &ex) || ex.Code != 497 {
		t.Fatalf("tenant reading loader_batches: %v", err)
	}
	if res, err := http.Get("http://" + addr + "/?query=SELECT+1"); err != nil || res.StatusCode != 401 {
		t.Fatalf("anonymous query: %v %v", res, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "clickhouse http interface listening") {
		t.Fatalf("logs: %s", logs)
	}
}
