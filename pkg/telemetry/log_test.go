package telemetry

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A pretty logger writing to a buffer, a file or a pipe writes no escape
// codes: only a terminal gets colours.
func TestPrettyLogsColourlessOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{&buf, f} {
		log, err := NewLogger(w, "info", true)
		if err != nil {
			t.Fatal(err)
		}
		log.Warn().Str("tenant", "acme").Msg("spend spike")
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"buffer": buf.String(), "file": string(data)} {
		if !strings.Contains(out, "spend spike") || !strings.Contains(out, "tenant=acme") {
			t.Errorf("%s: pretty line missing its message or field: %q", name, out)
		}
		if strings.Contains(out, "\x1b[") {
			t.Errorf("%s: escape codes off a terminal: %q", name, out)
		}
	}
}
