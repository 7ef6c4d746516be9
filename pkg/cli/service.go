package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/telemetry"
)

// Service is a service binary (services/*/cmd/*) as Serve runs it: the
// sequence every one of them shares — flags and THROUGHLINE_* variables,
// logger, telemetry, the /healthz /readyz /metrics server, the signal and
// the shutdown — with the service's own parts as fields.
type Service struct {
	// Name names the flag set, the telemetry's service and the "name: error"
	// lines.
	Name string
	// Flags registers the service's flags; Serve adds --log-level and
	// --log-pretty (default JSON).
	Flags func(fs *flag.FlagSet)
	// Check resolves and validates the parsed flags (optional). Its error
	// is a configuration error: printed, with exit status UsageExit.
	Check func() error
	// Addr, when set and not empty after parsing, is the address of the
	// /healthz, /readyz and /metrics server (and of whatever Start mounts
	// on Env.Mux); AddrFlag names its flag in a listen error.
	Addr     *string
	AddrFlag string
	// Start builds the service and returns its run function, which works
	// until ctx ends (or it is done) and returns. Resources it opens are
	// closed through Env.OnStop, also when Start fails.
	Start func(ctx context.Context, env *Env) (run func(context.Context) error, err error)
	// Ready, when set, gets the server's address once it listens (tests).
	Ready func(addr string)

	// UsageExit is the exit status of a flag or configuration error: 1
	// when 0. The loader and the console use 2 (the flag package's).
	UsageExit int
	// FailedMsg, when set, reports an error of Start or run as an error
	// log line with this message rather than a "name: error" line (the
	// loader's and console's way).
	FailedMsg string
}

// Env is what Serve gives a service's Start.
type Env struct {
	Log    zerolog.Logger
	Tel    *telemetry.Telemetry
	Health *telemetry.Health // its checks answer /readyz
	Mux    *http.ServeMux    // served on Addr, with /healthz /readyz /metrics
	stops  []func(context.Context) error
}

// OnStop registers f to run at shutdown, after the service's run returned
// and the HTTP server stopped; the registered functions run in reverse
// order (the last opened is closed first), before the telemetry is flushed.
func (e *Env) OnStop(f func(ctx context.Context) error) { e.stops = append(e.stops, f) }

// CloseOnStop registers c.Close as a stop (OnStop). Its error is logged,
// not returned: a failed close after a clean run does not fail the command.
func (e *Env) CloseOnStop(what string, c io.Closer) {
	e.OnStop(func(context.Context) error {
		if err := c.Close(); err != nil {
			e.Log.Warn().Err(err).Str("what", what).Msg("closing at shutdown failed")
		}
		return nil
	})
}

// shutdownTimeout bounds each step of the shutdown.
const shutdownTimeout = 5 * time.Second

// Serve runs the service as a command: the context is cancelled by SIGINT
// or SIGTERM; the exit status is Exit's.
func Serve(s Service) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, s, os.Args[1:], os.Stderr)
	stop()
	os.Exit(s.Exit(err, os.Stderr))
}

// UsageError is a flag or configuration error.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// logged is a failure already reported on the log (Service.FailedMsg).
type logged struct{ error }

func (e logged) Unwrap() error { return e.error }

// Exit reports Run's error on stderr as "name: error" (unless it was
// logged) and gives the exit status: 0 done or -h (flag.ErrHelp),
// UsageExit for a *UsageError, 1 for a failure.
func (s Service) Exit(err error, stderr io.Writer) int {
	var usage *UsageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "%s: %v\n", s.Name, err)
		if s.UsageExit != 0 {
			return s.UsageExit
		}
		return 1
	}
	if _, ok := err.(logged); !ok {
		fmt.Fprintf(stderr, "%s: %v\n", s.Name, err)
	}
	return 1
}

// Run runs the service until ctx ends or its run returns. It returns
// flag.ErrHelp for -h, a *UsageError for a flag or configuration error,
// or the failure. The sequence, and the stop order:
//
//  1. parse the flags (args, then THROUGHLINE_* variables), Check;
//  2. the logger (to stderr), the telemetry;
//  3. Start; then the HTTP server listens on Addr;
//  4. run, until ctx ends or it returns;
//  5. stop: the HTTP server (its requests finish, for up to 5 s), then the
//     OnStop functions, last registered first, then the telemetry's flush
//     (each for up to 5 s).
func Run(ctx context.Context, s Service, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(s.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var logs LogFlags
	if s.Flags != nil {
		s.Flags(fs)
	}
	logs.RegisterFlags(fs, false)
	if err := flagenv.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{err}
	}
	if s.Check != nil {
		if err := s.Check(); err != nil {
			return &UsageError{err}
		}
	}
	logTo := stderr
	if stderr == os.Stderr {
		logTo = telemetry.Stderr
	}
	log, err := logs.Logger(logTo)
	if err != nil {
		return &UsageError{err}
	}
	if err := s.serve(ctx, log); err != nil {
		if s.FailedMsg != "" {
			log.Error().Err(err).Msg(s.FailedMsg)
			return logged{err}
		}
		return err
	}
	return nil
}

// serve is steps 2 to 5 of Run.
func (s Service) serve(ctx context.Context, log zerolog.Logger) (err error) {
	tel, err := telemetry.New(log, s.Name)
	if err != nil {
		return err
	}
	env := &Env{Log: log, Tel: tel, Health: &telemetry.Health{}, Mux: http.NewServeMux()}
	defer func() {
		for i := len(env.stops) - 1; i >= 0; i-- {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			err = errors.Join(err, env.stops[i](sctx))
			cancel()
		}
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err = errors.Join(err, tel.Shutdown(sctx))
	}()
	run, err := s.Start(ctx, env)
	if err != nil {
		return err
	}
	if s.Addr != nil && *s.Addr != "" {
		srv, err := s.listen(env, log)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			srv.Shutdown(sctx)
		}()
	}
	return run(ctx)
}

// listen serves env.Mux, with /healthz /readyz /metrics, on s.Addr.
func (s Service) listen(env *Env, log zerolog.Logger) (*http.Server, error) {
	env.Tel.Mount(env.Mux, env.Health)
	ln, err := net.Listen("tcp", *s.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.AddrFlag, err)
	}
	srv := &http.Server{Handler: env.Mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server failed")
		}
	}()
	if s.Ready != nil {
		s.Ready(ln.Addr().String())
	}
	return srv, nil
}
