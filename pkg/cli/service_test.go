package cli

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/throughline/throughline/pkg/flagenv"
)

// stderrFile is a file to stand for stderr: safe for the logger's
// concurrent writes; read back by String.
type stderrFile struct{ *os.File }

func newStderr(t *testing.T) stderrFile {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return stderrFile{f}
}

func (f stderrFile) String() string {
	b, _ := os.ReadFile(f.Name())
	return string(b)
}

type closer func() error

func (c closer) Close() error { return c() }

// The service runs with its server up, and stops in the documented order:
// run returns, the server stops, the stops run last first.
func TestRunServesAndStopsInOrder(t *testing.T) {
	var (
		addr  = "127.0.0.1:0"
		level string
		mu    sync.Mutex
		order []string
	)
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var base string
	s := Service{
		Name:     "svc",
		Flags:    func(fs *flag.FlagSet) { flagenv.String(fs, &level, "svc-level", "low", "a setting") },
		Addr:     &addr,
		AddrFlag: "svc-addr",
		Ready:    func(a string) { base = "http://" + a },
		Start: func(ctx context.Context, env *Env) (func(context.Context) error, error) {
			env.OnStop(func(context.Context) error { note("first opened"); return nil })
			env.CloseOnStop("second", closer(func() error { note("second opened"); return errors.New("already closed") }))
			env.Health.AddCheck("svc", func(context.Context) error { return nil })
			env.Mux.HandleFunc("GET /v1/level", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, level) })
			return func(ctx context.Context) error {
				for _, path := range []string{"/v1/level", "/readyz", "/healthz", "/metrics"} {
					resp, err := http.Get(base + path)
					if err != nil {
						t.Errorf("GET %s: %v", path, err)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("GET %s: %d", path, resp.StatusCode)
					}
					if path == "/v1/level" && string(body) != "high" {
						t.Errorf("GET /v1/level = %q, want the flag's value", body)
					}
				}
				cancel()
				<-ctx.Done()
				note("run returned")
				return nil
			}, nil
		},
	}
	stderr := newStderr(t)
	err := Run(ctx, s, []string{"-svc-level", "high", "-log-level", "warn"}, stderr)
	if code := s.Exit(err, stderr); code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	if got := strings.Join(order, ", "); got != "run returned, second opened, first opened" {
		t.Errorf("stop order: %s", got)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answering after Run returned")
	}
	if !strings.Contains(stderr.String(), `"what":"second"`) || !strings.Contains(stderr.String(), "already closed") {
		t.Errorf("failed close not logged: %s", stderr.String())
	}
}

func TestExitStatus(t *testing.T) {
	failing := func(ctx context.Context, env *Env) (func(context.Context) error, error) {
		return nil, errors.New("no broker")
	}
	check := func() error { return errors.New("svc-x must be positive") }
	cases := []struct {
		name    string
		s       Service
		args    []string
		code    int
		printed string // on stderr as "svc: …", or "" for nothing
		logged  string // an error log line's message
	}{
		{name: "help", s: Service{Start: failing}, args: []string{"-h"}, code: 0},
		{name: "bad flag", s: Service{Start: failing}, args: []string{"-nope"}, code: 1, printed: "svc: flag provided but not defined: -nope"},
		{name: "bad flag, usage exit 2", s: Service{Start: failing, UsageExit: 2}, args: []string{"-nope"}, code: 2, printed: "svc: flag provided but not defined: -nope"},
		{name: "check", s: Service{Start: failing, Check: check, UsageExit: 2}, code: 2, printed: "svc: svc-x must be positive"},
		{name: "bad log level", s: Service{Start: failing}, args: []string{"-log-level", "loud"}, code: 1, printed: `svc: `},
		{name: "start fails", s: Service{Start: failing}, code: 1, printed: "svc: no broker"},
		{name: "start fails, logged", s: Service{Start: failing, FailedMsg: "svc failed"}, code: 1, logged: `"level":"error","error":"no broker"`},
		{name: "empty address: no server", s: Service{Addr: new(string), AddrFlag: "svc-addr", Start: func(context.Context, *Env) (func(context.Context) error, error) {
			return func(context.Context) error { return nil }, nil
		}}, args: nil, code: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.s.Name = "svc"
			stderr := newStderr(t)
			code := c.s.Exit(Run(context.Background(), c.s, c.args, stderr), stderr)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, c.code, stderr.String())
			}
			out := stderr.String()
			if c.printed != "" && !strings.Contains(out, c.printed+"") {
				t.Errorf("stderr %q lacks %q", out, c.printed)
			}
			if c.printed == "" && strings.Contains(out, "svc: ") {
				t.Errorf("stderr %q has a printed error", out)
			}
			if c.logged != "" && (!strings.Contains(out, c.logged) || !strings.Contains(out, `"message":"`+c.s.FailedMsg+`"`)) {
				t.Errorf("stderr %q lacks the log line %q", out, c.logged)
			}
		})
	}
}

func TestListenErrorNamesTheFlag(t *testing.T) {
	addr := "127.0.0.1:-1"
	s := Service{Name: "svc", Addr: &addr, AddrFlag: "svc-addr", Start: func(context.Context, *Env) (func(context.Context) error, error) {
		return func(context.Context) error { return nil }, nil
	}}
	err := Run(context.Background(), s, nil, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "svc-addr: ") {
		t.Fatalf("error %v, want it to name svc-addr", err)
	}
}
