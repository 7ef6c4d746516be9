package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// root is the repository root, seen from this package's directory.
const root = ".."

// envRef matches the "[$THROUGHLINE_X]" that pkg/flagenv appends to every
// flag's usage.
var envRef = regexp.MustCompile(`\$(THROUGHLINE_[A-Z0-9_]+)`)

// binaries are built once per test run, each service on its own so that one
// that does not build fails only the checks that need it.
var binaries struct {
	mu    sync.Mutex
	dir   string
	built map[string]error
}

// cmdDir is where the main package of a service lives.
func cmdDir(service string) string {
	return filepath.Join(root, "services", service, "cmd", service)
}

// serviceEnv returns the THROUGHLINE_* variables the service's binary reads,
// from its -h usage. It skips the test when the service has no main package
// yet, and fails it when the main package does not build.
func serviceEnv(t *testing.T, service string) map[string]bool {
	t.Helper()
	if _, err := os.Stat(cmdDir(service)); err != nil {
		t.Skipf("services/%s/cmd/%s does not exist yet: cannot check the %s variables against its flags", service, service, service)
	}
	bin, err := buildBinary(service)
	if err != nil {
		t.Fatalf("building the %s binary: %v", service, err)
	}
	cmd := exec.Command(bin, "-h")
	// The usage must list the defaults, not whatever this environment sets.
	cmd.Env = withoutThroughlineEnv(os.Environ())
	out, _ := cmd.CombinedOutput() // -h may exit 0 or 2; the usage is what counts
	vars := map[string]bool{}
	for _, m := range envRef.FindAllSubmatch(out, -1) {
		vars[string(m[1])] = true
	}
	if len(vars) == 0 {
		t.Fatalf("%s -h listed no $THROUGHLINE_* variable; usage was:\n%s", service, out)
	}
	return vars
}

// buildBinary builds the service's main package once and returns its path.
func buildBinary(service string) (string, error) {
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	if binaries.dir == "" {
		dir, err := os.MkdirTemp("", "throughline-deploy-test-")
		if err != nil {
			return "", err
		}
		binaries.dir, binaries.built = dir, map[string]error{}
	}
	bin := filepath.Join(binaries.dir, service)
	if err, done := binaries.built[service]; done {
		return bin, err
	}
	cmd := exec.Command(goTool(), "build", "-o", bin, "./"+filepath.ToSlash(cmdDir(service)))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, buf.Bytes())
	}
	binaries.built[service] = err
	return bin, err
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

func withoutThroughlineEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "THROUGHLINE_") {
			out = append(out, kv)
		}
	}
	return out
}

// checkEnv fails the test for every THROUGHLINE_* name the service's binary
// does not read. where says which file and service the names come from.
func checkEnv(t *testing.T, service, where string, names []string) {
	t.Helper()
	known := serviceEnv(t, service)
	for _, n := range names {
		if strings.HasPrefix(n, "THROUGHLINE_") && !known[n] {
			t.Errorf("%s: %s is not a flag of the %s binary (it reads: %s)", where, n, service, strings.Join(sortedKeys(known), " "))
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}
