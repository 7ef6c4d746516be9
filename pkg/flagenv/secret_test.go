package flagenv

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretFromFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(args ...string) (string, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var tok string
		Secret(fs, &tok, "x-token", "a token")
		err := Parse(fs, args)
		return tok, err
	}
	if tok, err := parse("--x-token-file", file); err != nil || tok != "s3cret-token" {
		t.Errorf("from a file: %q %v", tok, err)
	}
	if _, err := parse("--x-token", "a", "--x-token-file", file); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both: %v", err)
	}
	if _, err := parse("--x-token-file", file+".missing"); err == nil || !strings.Contains(err.Error(), "x-token-file") {
		t.Errorf("missing file: %v", err)
	}
	t.Setenv("THROUGHLINE_X_TOKEN_FILE", file)
	if tok, err := parse(); err != nil || tok != "s3cret-token" {
		t.Errorf("file from the environment: %q %v", tok, err)
	}
}
