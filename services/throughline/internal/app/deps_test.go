package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRunNeverImportsTheDemo: the production start path (this package, which
// `throughline run` calls) builds without the demo network; only
// `throughline demo` knows it.
func TestRunNeverImportsTheDemo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasSuffix(p, "/internal/demo") || strings.Contains(p, "/internal/demo/") {
			t.Errorf("the run path imports %s", p)
		}
	}
}
