package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/throughline/throughline/services/alerter/internal/incident"
	"github.com/throughline/throughline/services/alerter/internal/rules"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// receiver is a local HTTP endpoint that answers from a script: the n-th
// request gets script[n] (the last entry repeats).
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	script  []string // "200", "500", "400", "429", "hang" (until the client gives up)
	got     []received
	arrived chan struct{} // a request came in (before it is answered)
}

type received struct {
	path string
	hdr  http.Header
	body []byte
	code int
}

func newReceiver(t *testing.T, script ...string) *receiver {
	r := &receiver{t: t, script: script, arrived: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	step := r.script[min(len(r.got), len(r.script)-1)]
	rec := received{path: req.URL.Path, hdr: req.Header, body: body}
	r.mu.Unlock()
	r.arrived <- struct{}{}
	switch step {
	case "hang":
		<-req.Context().Done()
		rec.code = -1
	case "tg-refused":
		rec.code = 200
		w.Write([]byte(`{"ok":false,"description":"Bad Request: chat not found"}`))
	default:
		switch step {
		case "200":
			rec.code = 200
		case "429":
			rec.code = 429
		case "400":
			rec.code = 400
		default:
			rec.code = 500
		}
		w.WriteHeader(rec.code)
		if rec.code == 200 {
			w.Write([]byte(`{"ok":true}`))
		} else {
			w.Write([]byte(`{"ok":false,"description":"scripted failure"}`))
		}
	}
	r.mu.Lock()
	r.got = append(r.got, rec)
	r.mu.Unlock()
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func testConfig() Config {
	return Config{QueueSize: 16, Timeout: 200 * time.Millisecond, MaxAttempts: 5,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAge: time.Minute}
}

func newNotifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}}
	n, err := New(cfg, client, zerolog.Nop(), noop.NewMeterProvider().Meter("test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Close(ctx)
		client.CloseIdleConnections()
	})
	return n
}

var alert = incident.Alert{ID: "abc123", Version: 1, Tenant: "acme", Account: "msk", Rule: "missed-calls", Kind: "missed_calls",
	Severity: "warning", Status: incident.Firing, Title: "calls go unanswered", Summary: "4 of 11 calls <b>were</b> not answered.",
	Value: 36.4, Threshold: 30, FiredAt: time.Date(2026, 3, 2, 7, 11, 0, 0, time.UTC).UnixMilli(),
	Labels: map[string]string{"account_name": "Moscow"}}

func resolved() incident.Alert {
	a := alert
	a.Version, a.Status, a.ResolvedAt = 2, incident.Resolved, alert.FiredAt+int64(time.Hour/time.Millisecond)
	return a
}

// wait blocks until the notifier reports n outcomes of kind (e.g. "webhook/delivered").
func wait(t *testing.T, n *Notifier, kind string, want int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if n.Stats()[kind] >= want {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("waiting for %d %s: stats %v", want, kind, n.Stats())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func TestFormats(t *testing.T) {
	rc := newReceiver(t, "200")
	n := newNotifier(t, testConfig())
	targets := []rules.Target{
		{Name: "hook", Type: rules.TargetWebhook, URL: rc.srv.URL + "/hook", Secret: "s3cret", MinSeverity: "info"},
		{Name: "tg", Type: rules.TargetTelegram, URL: rc.srv.URL + "/bot123:abc/sendMessage", ChatID: "-100", ParseMode: "HTML", MinSeverity: "info"},
		{Name: "slack", Type: rules.TargetSlack, URL: rc.srv.URL + "/services/T/B/x", MinSeverity: "info"},
		{Name: "pager", Type: rules.TargetWebhook, URL: rc.srv.URL + "/pager", MinSeverity: "critical"},
	}
	n.Send(alert, targets)
	for _, kind := range []string{"webhook/delivered", "telegram/delivered", "slack/delivered"} {
		wait(t, n, kind, 1)
	}
	byPath := map[string]received{}
	for _, r := range rc.requests() {
		byPath[r.path] = r
	}
	if _, ok := byPath["/pager"]; ok {
		t.Error("a critical-only target got a warning")
	}

	hook := byPath["/hook"]
	var wp WebhookPayload
	if err := json.Unmarshal(hook.body, &wp); err != nil || wp.Event != "firing" || wp.Alert.ID != "abc123" || wp.Alert.Value != 36.4 || !strings.Contains(wp.Text, "acme / msk (Moscow)") {
		t.Errorf("webhook payload %s (%v)", hook.body, err)
	}
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(hook.body)
	if got := hook.hdr.Get(HeaderSignature); got != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("signature %q", got)
	}
	if hook.hdr.Get(HeaderDelivery) != "abc123/1" || hook.hdr.Get("Content-Type") != "application/json" {
		t.Errorf("webhook headers %v", hook.hdr)
	}

	var tg TelegramPayload
	if err := json.Unmarshal(byPath["/bot123:abc/sendMessage"].body, &tg); err != nil || tg.ChatID != "-100" || tg.ParseMode != "HTML" ||
		!strings.Contains(tg.Text, "<b>FIRING [warning] acme / msk (Moscow): calls go unanswered</b>") ||
		!strings.Contains(tg.Text, "4 of 11 calls &lt;b&gt;were&lt;/b&gt; not answered.") {
		t.Errorf("telegram payload %+v (%v)", tg, err)
	}

	var sl SlackPayload
	if err := json.Unmarshal(byPath["/services/T/B/x"].body, &sl); err != nil || !strings.Contains(sl.Text, "FIRING") || len(sl.Blocks) != 3 ||
		sl.Blocks[0].Type != "header" || !strings.Contains(sl.Blocks[1].Text.Text, "&lt;b&gt;") || !strings.Contains(sl.Blocks[2].Elements[0].Text, "rule missed-calls") {
		t.Errorf("slack payload %s (%v)", byPath["/services/T/B/x"].body, err)
	}
}

func TestTransientFailuresAreRetriedInOrder(t *testing.T) {
	// Two 500s, a 429, a timeout, then success; the resolution waits its turn.
	rc := newReceiver(t, "500", "500", "429", "hang", "200")
	n := newNotifier(t, testConfig())
	target := []rules.Target{{Name: "hook", Type: rules.TargetWebhook, URL: rc.srv.URL, MinSeverity: "info"}}
	n.Send(alert, target)
	n.Send(resolved(), target)
	wait(t, n, "webhook/delivered", 2)
	var events []string
	for _, r := range rc.requests() {
		if r.code == 200 {
			var wp WebhookPayload
			json.Unmarshal(r.body, &wp)
			events = append(events, wp.Event)
		}
	}
	if strings.Join(events, ",") != "firing,resolved" {
		t.Fatalf("delivered %v, want the firing before its resolution", events)
	}
	if s := n.Stats(); s["webhook/retried"] != 4 || s["webhook/given_up"] != 0 {
		t.Fatalf("stats %v", s)
	}
	if got := len(rc.requests()); got != 6 {
		t.Fatalf("%d requests, want 6", got)
	}
}

func TestPermanentFailuresAreGivenUpAndCounted(t *testing.T) {
	bad := newReceiver(t, "400")
	refused := newReceiver(t, "tg-refused")
	down := newReceiver(t, "500")
	cfg := testConfig()
	cfg.MaxAttempts = 3
	n := newNotifier(t, cfg)
	n.Send(alert, []rules.Target{
		{Name: "bad", Type: rules.TargetSlack, URL: bad.srv.URL, MinSeverity: "info"},
		{Name: "tg", Type: rules.TargetTelegram, URL: refused.srv.URL, ChatID: "1", MinSeverity: "info"},
		{Name: "down", Type: rules.TargetWebhook, URL: down.srv.URL, MinSeverity: "info"},
	})
	wait(t, n, "slack/given_up", 1)
	wait(t, n, "telegram/given_up", 1)
	wait(t, n, "webhook/given_up", 1)
	if len(bad.requests()) != 1 || len(refused.requests()) != 1 {
		t.Errorf("a permanent failure is not retried: %d, %d requests", len(bad.requests()), len(refused.requests()))
	}
	if got := len(down.requests()); got != 3 {
		t.Errorf("an endless 500 is tried MaxAttempts times: %d", got)
	}
	if s := n.Stats(); s["webhook/retried"] != 2 || s["slack/retried"] != 0 {
		t.Errorf("stats %v", s)
	}
}

func TestSlowTargetDelaysOnlyItself(t *testing.T) {
	slow := newReceiver(t, "hang")
	fast := newReceiver(t, "200")
	cfg := testConfig()
	cfg.Timeout, cfg.MaxAttempts = 5*time.Second, 1
	n := newNotifier(t, cfg)
	start := time.Now()
	n.Send(alert, []rules.Target{
		{Name: "slow", Type: rules.TargetWebhook, URL: slow.srv.URL, MinSeverity: "info"},
		{Name: "fast", Type: rules.TargetWebhook, URL: fast.srv.URL, MinSeverity: "info"},
	})
	if time.Since(start) > time.Second {
		t.Fatal("Send blocked")
	}
	wait(t, n, "webhook/delivered", 1)
	if len(slow.requests()) != 0 {
		t.Fatal("the slow receiver answered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	n.Close(ctx)
	if got := n.Stats()["webhook/given_up"]; got != 1 {
		t.Fatalf("the hanging delivery is given up at close: %v", n.Stats())
	}
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	rc := newReceiver(t, "hang")
	cfg := testConfig()
	cfg.QueueSize, cfg.Timeout, cfg.MaxAttempts = 2, 5*time.Second, 1
	n := newNotifier(t, cfg)
	target := []rules.Target{{Name: "hook", Type: rules.TargetWebhook, URL: rc.srv.URL, MinSeverity: "info"}}
	n.Send(alert, target)
	select { // the worker holds one, the queue takes two more
	case <-rc.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the first notification never arrived")
	}
	for range 5 {
		n.Send(alert, target)
	}
	if got := n.Stats()["webhook/dropped"]; got != 3 {
		t.Fatalf("dropped %d, want 3 (stats %v)", got, n.Stats())
	}
	// Close gives up what it cannot deliver by its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	n.Close(ctx)
	if time.Since(start) > 2*time.Second {
		t.Fatal("Close did not honour its deadline")
	}
	if got := n.Stats()["webhook/given_up"]; got != 3 {
		t.Fatalf("given up at close: %d (stats %v)", got, n.Stats())
	}
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	n := &Notifier{cfg: Config{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, MaxAge: time.Hour}}
	for attempt := 1; attempt < 10; attempt++ {
		d := n.backoff(attempt, errors.New("x"))
		hi := min(100*time.Millisecond<<(attempt-1), time.Second)
		if d < hi/2 || d > hi {
			t.Errorf("attempt %d: %s not in [%s, %s]", attempt, d, hi/2, hi)
		}
	}
	if d := n.backoff(1, &retryAfterError{err: errors.New("429"), after: 30 * time.Second}); d != 30*time.Second {
		t.Errorf("Retry-After: %s", d)
	}
}
