package chhttp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/chdb"
)

// jsClientVersion is the @clickhouse/client the JS test installs.
const jsClientVersion = "1.23.1"

// tool finds a program on PATH, or skips the test when it is missing and
// THROUGHLINE_REQUIRE_TOOLS is unset (CI sets it: there the test must run).
func tool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("THROUGHLINE_REQUIRE_TOOLS") != "" {
		t.Fatalf("%s is required (THROUGHLINE_REQUIRE_TOOLS is set) but not on PATH: %s", name, install)
	}
	t.Skipf("%s not installed, test skipped (%s; .ci/run installs it)", name, install)
	return ""
}

// jsClient installs @clickhouse/client from npm once into the cache
// (beside libchdb) and returns its package directory.
func jsClient(t *testing.T) string {
	t.Helper()
	tool(t, "node", "apt-get install nodejs")
	npm := tool(t, "npm", "apt-get install npm")
	dir := filepath.Join(chdb.CacheDir(), "clickhouse-js-"+jsClientVersion)
	pkg := filepath.Join(dir, "node_modules", "@clickhouse", "client")
	if _, err := os.Stat(filepath.Join(pkg, "package.json")); err == nil {
		return pkg
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", dir, "@clickhouse/client@"+jsClientVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install @clickhouse/client@%s: %v\n%s", jsClientVersion, err, out)
	}
	return pkg
}

// TestOfficialJSClient runs the official JS client against the interface
// (testdata/jsclient/client.mjs): selects in several formats, a typed
// round trip of every column type the tables use, an insert retried with
// its deduplication token, an error, a tenant user confined to its rows.
func TestOfficialJSClient(t *testing.T) {
	pkg := jsClient(t)
	e := startEnv(t)
	cmd := exec.Command("node", "testdata/jsclient/client.mjs")
	cmd.Env = append(os.Environ(), "CH_URL="+strings.TrimSuffix(e.url, "/"), "CH_ADMIN="+adminUser, "CH_ADMIN_PASSWORD="+adminPass,
		"CH_TENANT="+userA, "CH_TENANT_PASSWORD="+passA, "CH_TENANT_ROWS=2", "CH_CLIENT="+filepath.Join(pkg, "dist", "index.js"))
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("node client.mjs: %v\n%s", err, out)
	}
}
