// Package cdptest drives a headless Chromium over the Chrome DevTools
// Protocol for browser tests: start it, open a tab, navigate, evaluate
// JavaScript, read cookies, wait for the page and take screenshots. It is
// imported only by tests.
//
// CDP runs over --remote-debugging-pipe (NUL-separated JSON on file
// descriptors 3 and 4): the same protocol as the DevTools websocket, without
// a port to race for or a websocket client to depend on.
package cdptest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Browser is a headless Chromium driven over CDP.
type Browser struct {
	cmd    *exec.Cmd
	in     *os.File // our end of Chromium's fd 3
	out    *os.File // our end of Chromium's fd 4
	stderr *os.File
	done   chan struct{} // the reader has stopped

	mu         sync.Mutex
	next       int64
	pending    map[int64]chan message
	events     chan message
	exceptions []string
}

type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// ChromiumPath finds the browser ($THROUGHLINE_CHROMIUM, else chromium,
// chromium-browser or google-chrome on PATH), or skips the test when it is
// missing and THROUGHLINE_REQUIRE_TOOLS is unset (CI sets it: there the
// test must run).
func ChromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("THROUGHLINE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("THROUGHLINE_REQUIRE_TOOLS") != "" {
		t.Fatal("chromium is required (THROUGHLINE_REQUIRE_TOOLS is set) but not on PATH: apt-get install chromium")
	}
	t.Skip("chromium not installed, browser test skipped (apt-get install chromium; .ci/run installs it)")
	return ""
}

// Start starts headless Chromium with a fresh profile; every *.test host
// name resolves to the loopback address. It stops when the test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin := ChromiumPath(t)
	dir, err := os.MkdirTemp("", "throughline-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Chromium's helpers may still write to the profile while exiting: the
	// directory is removed on a best-effort basis.
	t.Cleanup(func() { os.RemoveAll(dir) })
	toChrome, in, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(dir + ".log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(stderr.Name()) })
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--no-default-browser-check", "--mute-audio",
		"--host-resolver-rules=MAP *.test 127.0.0.1",
		"--user-data-dir="+dir, "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fds 3 and 4
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	toChrome.Close()
	fromChrome.Close()
	b := &Browser{
		cmd: cmd, in: in, out: out, stderr: stderr, done: make(chan struct{}),
		pending: map[int64]chan message{}, events: make(chan message, 4096),
	}
	go b.read()
	t.Cleanup(func() { b.close(t) })
	return b
}

func (b *Browser) read() {
	defer close(b.done)
	r := bufio.NewReaderSize(b.out, 1<<20)
	for {
		raw, err := r.ReadBytes(0)
		if err != nil {
			return
		}
		var m message
		if err := json.Unmarshal(raw[:len(raw)-1], &m); err != nil {
			continue
		}
		if m.ID != 0 {
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		if m.Method == "Runtime.exceptionThrown" {
			b.mu.Lock()
			b.exceptions = append(b.exceptions, string(m.Params))
			b.mu.Unlock()
		}
		select {
		case b.events <- m:
		default: // nobody waits for this many events; tests only need recent ones
		}
	}
}

// close asks Chromium to quit, kills what is left of its process group and
// stops the reader.
func (b *Browser) close(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.Call(ctx, "", "Browser.close", nil, nil)
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) // helpers outliving the browser
	b.in.Close()
	b.out.Close()
	<-b.done
	b.stderr.Close()
	if t.Failed() {
		if log, err := os.ReadFile(b.stderr.Name()); err == nil {
			if len(log) > 4000 {
				log = log[len(log)-4000:]
			}
			t.Logf("chromium output (tail):\n%s", log)
		}
	}
}

// Call sends a command (to the browser when session is "") and decodes its
// result into result, if not nil.
func (b *Browser) Call(ctx context.Context, session, method string, params, result any) error {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan message, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.in.Write(append(raw, 0)); err != nil {
		return fmt.Errorf("cdp %s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("cdp %s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("cdp %s: browser gone", method)
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("cdp %s: %w", method, ctx.Err())
	}
}

// Wait returns the next event named method of session ("" for the
// browser's own), skipping others.
func (b *Browser) Wait(ctx context.Context, session, method string) (json.RawMessage, error) {
	for {
		select {
		case m := <-b.events:
			if m.Method == method && m.SessionID == session {
				return m.Params, nil
			}
		case <-b.done:
			return nil, fmt.Errorf("waiting for %s: browser gone", method)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		}
	}
}

// Thrown are the uncaught exceptions of every page so far, as CDP reported them.
func (b *Browser) Thrown() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}

// Tab is one page target attached in flat mode.
type Tab struct {
	b       *Browser
	Session string
}

// NewTab opens a blank tab with the Page, Runtime and Network domains enabled.
func (b *Browser) NewTab(ctx context.Context) (*Tab, error) {
	var created struct {
		TargetID string `json:"targetId"`
	}
	if err := b.Call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &created); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.Call(ctx, "", "Target.attachToTarget",
		map[string]any{"targetId": created.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	t := &Tab{b: b, Session: attached.SessionID}
	for _, domain := range []string{"Page.enable", "Runtime.enable", "Network.enable"} {
		if err := b.Call(ctx, t.Session, domain, nil, nil); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Call sends a command to the tab.
func (t *Tab) Call(ctx context.Context, method string, params, result any) error {
	return t.b.Call(ctx, t.Session, method, params, result)
}

// Wait returns the tab's next event named method.
func (t *Tab) Wait(ctx context.Context, method string) (json.RawMessage, error) {
	return t.b.Wait(ctx, t.Session, method)
}

// Navigate loads url (sending referrer, if any) and waits for its load event.
func (t *Tab) Navigate(ctx context.Context, url, referrer string) error {
	p := map[string]any{"url": url}
	if referrer != "" {
		p["referrer"] = referrer
	}
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := t.Call(ctx, "Page.navigate", p, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("navigating to %s: %s", url, res.ErrorText)
	}
	_, err := t.Wait(ctx, "Page.loadEventFired")
	return err
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its value into v, if not nil.
func (t *Tab) Eval(ctx context.Context, expr string, v any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := t.Call(ctx, "Runtime.evaluate",
		map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return err
	}
	if d := res.ExceptionDetails; d != nil {
		return errors.New("evaluating " + expr + ": " + strings.TrimSpace(d.Text+" "+d.Exception.Description))
	}
	if v == nil || len(res.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(res.Result.Value, v)
}

// WaitFor evaluates expr every interval until it is truthy or ctx ends; the
// page is polled, never reloaded.
func (t *Tab) WaitFor(ctx context.Context, expr string, interval time.Duration) error {
	for {
		var ok bool
		if err := t.Eval(ctx, "!!("+expr+")", &ok); err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", expr, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// Cookie is a cookie as the browser's jar holds it.
type Cookie struct {
	Name     string  `json:"name"`
	Value    string  `json:"value"`
	Domain   string  `json:"domain"`
	Path     string  `json:"path"`
	Expires  float64 `json:"expires"` // Unix seconds; -1 for a session cookie
	SameSite string  `json:"sameSite"`
	Secure   bool    `json:"secure"`
	HTTPOnly bool    `json:"httpOnly"`
}

// Cookies returns the cookies the browser would send to url, by name.
func (t *Tab) Cookies(ctx context.Context, url string) (map[string]Cookie, error) {
	var res struct {
		Cookies []Cookie `json:"cookies"`
	}
	if err := t.Call(ctx, "Network.getCookies", map[string]any{"urls": []string{url}}, &res); err != nil {
		return nil, err
	}
	out := map[string]Cookie{}
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out, nil
}

// SetViewport sets the page's size in CSS pixels (device scale 1).
func (t *Tab) SetViewport(ctx context.Context, width, height int) error {
	return t.Call(ctx, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil)
}

// Screenshot captures the page: format "png", or "jpeg"/"webp" with
// quality 0-100; full captures beyond the viewport to the page's height.
func (t *Tab) Screenshot(ctx context.Context, format string, quality int, full bool) ([]byte, error) {
	p := map[string]any{"format": format, "captureBeyondViewport": full}
	if format != "png" {
		p["quality"] = quality
	}
	var res struct {
		Data string `json:"data"`
	}
	if err := t.Call(ctx, "Page.captureScreenshot", p, &res); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(res.Data)
}
