// Package flagenv registers command-line flags whose defaults come from
// environment variables, so every setting of every service can be given
// either way (flags win). The variable name is derived from the flag:
// "kafka-brokers" -> THROUGHLINE_KAFKA_BROKERS.
package flagenv

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// EnvName is the environment variable that sets a flag.
func EnvName(flagName string) string {
	return "THROUGHLINE_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

func usage(name, u string) string { return fmt.Sprintf("%s [$%s]", u, EnvName(name)) }

// String registers a string flag.
func String(fs *flag.FlagSet, p *string, name, def, u string) {
	if v, ok := os.LookupEnv(EnvName(name)); ok {
		def = v
	}
	fs.StringVar(p, name, def, usage(name, u))
}

// Int registers an int flag; a malformed environment value is reported by Parse.
func Int(fs *flag.FlagSet, p *int, name string, def int, u string) {
	fs.IntVar(p, name, def, usage(name, u))
	setFromEnv(fs, name)
}

// Bool registers a bool flag.
func Bool(fs *flag.FlagSet, p *bool, name string, def bool, u string) {
	fs.BoolVar(p, name, def, usage(name, u))
	setFromEnv(fs, name)
}

// Int64 registers an int64 flag.
func Int64(fs *flag.FlagSet, p *int64, name string, def int64, u string) {
	fs.Int64Var(p, name, def, usage(name, u))
	setFromEnv(fs, name)
}

// Float64 registers a float64 flag.
func Float64(fs *flag.FlagSet, p *float64, name string, def float64, u string) {
	fs.Float64Var(p, name, def, usage(name, u))
	setFromEnv(fs, name)
}

// Duration registers a duration flag ("500ms", "2s").
func Duration(fs *flag.FlagSet, p *time.Duration, name string, def time.Duration, u string) {
	fs.DurationVar(p, name, def, usage(name, u))
	setFromEnv(fs, name)
}

// envErrors collects malformed environment values until Parse reports them.
var envErrors = map[*flag.FlagSet][]error{}

func setFromEnv(fs *flag.FlagSet, name string) {
	v, ok := os.LookupEnv(EnvName(name))
	if !ok {
		return
	}
	if err := fs.Set(name, v); err != nil {
		envErrors[fs] = append(envErrors[fs], fmt.Errorf("$%s: %w", EnvName(name), err))
	}
}

// Parse parses args and reports malformed environment values by name.
func Parse(fs *flag.FlagSet, args []string) error {
	if errs := envErrors[fs]; len(errs) > 0 {
		return errs[0]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	return runAfterParse(fs)
}
