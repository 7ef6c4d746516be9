package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/throughline/throughline/pkg/flagenv"
)

func TestLogFlags(t *testing.T) {
	t.Setenv("THROUGHLINE_LOG_LEVEL", "warn")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var f LogFlags
	f.RegisterFlags(fs, true)
	if err := flagenv.Parse(fs, []string{"-log-pretty=false"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	log, err := f.Logger(&out)
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("dropped")
	log.Warn().Msg("kept")
	if s := out.String(); strings.Contains(s, "dropped") || !strings.HasPrefix(s, `{"level":"warn"`) {
		t.Fatalf("level from the environment, JSON from the flag: %q", s)
	}

	if _, err := (LogFlags{Level: "loud"}).Logger(&out); err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Fatalf("a wrong level names itself: %v", err)
	}
}
