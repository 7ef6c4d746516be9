// Package cli is what every Throughline command does around its own work:
// the logging flags, a context cancelled by SIGINT/SIGTERM, and the exit
// status (Main); for a service binary (services/*/cmd/*) the whole run
// sequence — flags, logger, telemetry, the /healthz /readyz /metrics
// server, shutdown in a documented order — is Service and Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/telemetry"
)

// LogFlags are --log-level and --log-pretty (THROUGHLINE_LOG_LEVEL,
// THROUGHLINE_LOG_PRETTY).
type LogFlags struct {
	Level  string
	Pretty bool
}

// RegisterFlags registers the flags on fs; pretty is --log-pretty's default
// (true for the terminal-first all-in-one, false for services, whose logs
// are collected as JSON).
func (f *LogFlags) RegisterFlags(fs *flag.FlagSet, pretty bool) {
	flagenv.String(fs, &f.Level, "log-level", "info", "log level: trace, debug, info, warn, error")
	flagenv.Bool(fs, &f.Pretty, "log-pretty", pretty, "human-readable logs instead of JSON")
}

// Logger is the logger the flags describe, writing to w.
func (f LogFlags) Logger(w io.Writer) (zerolog.Logger, error) {
	return telemetry.NewLogger(w, f.Level, f.Pretty)
}

// Main runs a command: run gets a context that SIGINT or SIGTERM cancels and
// the arguments. An error is printed as "name: error" and exits 1; -h (run
// returning flag.ErrHelp, as flagenv.Parse does) exits 0.
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
