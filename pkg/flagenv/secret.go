package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Secret registers a secret string flag that never has to appear on a
// command line (where ps shows it to every user of the host): name is set by
// the flag or $THROUGHLINE_<NAME>, and name-file (or
// $THROUGHLINE_<NAME>_FILE) names a file that holds it — a mounted secret.
// Parse reads the file; giving both is an error.
func Secret(fs *flag.FlagSet, p *string, name, u string) {
	String(fs, p, name, "", u+" (prefer $"+EnvName(name)+" or --"+name+"-file: flags show in ps)")
	var file string
	String(fs, &file, name+"-file", "", "file holding --"+name)
	afterParse[fs] = append(afterParse[fs], func() error {
		if file == "" {
			return nil
		}
		if *p != "" {
			return fmt.Errorf("%s: give it or %s-file, not both", name, name)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%s-file: %w", name, err)
		}
		if *p = strings.TrimSpace(string(b)); *p == "" {
			return fmt.Errorf("%s-file: %s is empty", name, file)
		}
		return nil
	})
}

// afterParse holds what Parse does once the flags are set (Secret files).
var afterParse = map[*flag.FlagSet][]func() error{}

func runAfterParse(fs *flag.FlagSet) error {
	var errs []error
	for _, f := range afterParse[fs] {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}
