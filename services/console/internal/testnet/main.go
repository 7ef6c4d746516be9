package testnet

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/throughline/throughline/pkg/chstore"
)

// Main is a test package's TestMain: it opens the process's one embedded
// engine (libchdb allows a single session per process) in a temporary
// directory, stores it in *engine, runs the tests, and fails the run when
// they leave goroutines behind.
func Main(m *testing.M, engine **chstore.Embedded) {
	dir, err := os.MkdirTemp("", "throughline-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e, err := chstore.OpenEmbedded(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*engine = e
	before := goleak.IgnoreCurrent()
	code := m.Run()
	e.Close()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(before); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
