// Package e2e tests the all-in-one binary as a user runs it: a real process
// with the embedded broker and engine, driven over HTTP and Kafka.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/throughline/internal/demo"
)

var binary string

func TestMain(m *testing.M) {
	if serveEdgeChild() { // a server of BenchmarkEdge*, re-executed
		return
	}
	dir, err := os.MkdirTemp("", "throughline-e2e-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "throughline")
	build := exec.Command("go", "build", "-o", binary, "../cmd/throughline")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building throughline:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// node is one all-in-one process on its own data dir and ports.
type node struct {
	t                  testing.TB
	dataDir            string
	kafkaPort          int
	collector, console string
	chhttp             string // ClickHouse's HTTP interface
	cmd                *exec.Cmd
	// prefix runs the binary under a command (taskset -c 0).
	prefix []string
	logs   *syncBuffer
	exited chan struct{}
}

// syncBuffer collects the process's output; tests read it while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newNode(t testing.TB) *node {
	return &node{
		t: t, dataDir: t.TempDir(), kafkaPort: freePort(t), chhttp: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		collector: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		console:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
}

func (n *node) start(extra ...string) {
	n.t.Helper()
	n.startAs("run", extra...)
}

// startAs starts the binary's cmd ("run", "demo") and waits until it serves.
// A run without a tenants file in the data dir gets a generated demo
// network (run refuses to start without one); both get the admin token in
// <data-dir>/admin-token, passed as a file (never on the command line).
func (n *node) startAs(cmd string, extra ...string) {
	n.t.Helper()
	tenantsFile := filepath.Join(n.dataDir, "tenants.yaml")
	if _, err := os.Stat(tenantsFile); cmd == "run" && os.IsNotExist(err) {
		if err := demo.WriteTenantsFile(tenantsFile, demo.Tenants(1, 20)); err != nil {
			n.t.Fatal(err)
		}
	}
	if _, err := os.Stat(n.adminTokenFile()); os.IsNotExist(err) {
		if err := os.WriteFile(n.adminTokenFile(), []byte(adminToken+"\n"), 0o600); err != nil {
			n.t.Fatal(err)
		}
	}
	args := append([]string{cmd, "--sql-token-file", n.adminTokenFile(),
		"--data-dir", n.dataDir,
		"--kafka-port", fmt.Sprint(n.kafkaPort),
		"--collector-addr", n.collector,
		"--console-addr", n.console,
		"--clickhouse-http-addr", n.chhttpAddr(),
		"--log-pretty=false", "--log-level", "info",
	}, extra...)
	if len(n.prefix) > 0 {
		n.cmd = exec.Command(n.prefix[0], append(append(n.prefix[1:len(n.prefix):len(n.prefix)], binary), args...)...)
	} else {
		n.cmd = exec.Command(binary, args...)
	}
	n.logs = &syncBuffer{}
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { n.cmd.Wait(); close(n.exited) }()
	n.t.Cleanup(func() { n.kill() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			n.t.Fatalf("throughline exited at start:\n%s", n.logs)
		default:
		}
		if ready("http://"+n.collector+"/readyz") && ready("http://"+n.console+"/readyz") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("throughline not ready after 60s:\n%s", n.logs)
}

func ready(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// stop shuts the process down gracefully.
func (n *node) stop() {
	n.t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.t.Fatalf("throughline did not stop within 30s:\n%s", n.logs)
	}
}

// kill ends the process with SIGKILL: no flush, no goodbye.
func (n *node) kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Kill()
	<-n.exited
}

// adminToken is the console's admin token (--sql-token) of every node.
const adminToken = "e2e-admin-token-0123456789abcdef"

func (n *node) adminTokenFile() string { return filepath.Join(n.dataDir, "admin-token") }

// key returns the site key of the first account.
func (n *node) key() (tenant, account, key string) {
	n.t.Helper()
	cfg, err := tenants.Load(filepath.Join(n.dataDir, "tenants.yaml"))
	if err != nil {
		n.t.Fatal(err)
	}
	t, a := cfg.Tenants[0], cfg.Tenants[0].Accounts[0]
	return t.ID, a.ID, a.SiteKey()
}

// query runs SQL through the console and returns the rows.
func (n *node) query(sql string) [][]any {
	n.t.Helper()
	rows, err := n.tryQuery(sql)
	if err != nil {
		n.t.Fatal(err)
	}
	return rows
}

func (n *node) tryQuery(sql string) ([][]any, error) {
	req, _ := http.NewRequest("POST", "http://"+n.console+"/v1/sql", strings.NewReader(sql))
	req.Header.Set("Content-Type", "application/sql")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("query %q: %d %s", sql, resp.StatusCode, body)
	}
	var out struct {
		Rows [][]any `json:"rows"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", body, err)
	}
	return out.Rows, nil
}

// waitCount polls until the query's single value reaches want.
func (n *node) waitCount(sql string, want int, within time.Duration) time.Duration {
	n.t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		rows, err := n.tryQuery(sql)
		if err != nil {
			last = "error: " + err.Error()
		}
		if err == nil && len(rows) == 1 {
			last = fmt.Sprint(rows[0][0])
			if last == fmt.Sprint(want) {
				return time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("%s: got %s, want %d within %v\nlogs:\n%s", short(sql), last, want, within, tail(n.logs.String(), 4000))
	return 0
}

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (n *node) pixel(key, clientID, page string) *http.Response {
	n.t.Helper()
	q := url.Values{"k": {key}, "cid": {clientID}, "u": {page}}
	resp, err := http.Get("http://" + n.collector + "/px.gif?" + q.Encode())
	if err != nil {
		n.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// postEvents sends a JSON batch and reports whether it was acknowledged.
func postEvents(ctx context.Context, collector, key string, events []map[string]any) (bool, error) {
	body, _ := json.Marshal(events)
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+collector+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2, nil
}

// chhttpAddr is where the node's ClickHouse HTTP interface listens.
func (n *node) chhttpAddr() string { return n.chhttp }
