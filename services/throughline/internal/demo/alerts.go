package demo

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/throughline/throughline/services/alerter"
)

// DefaultAlertsAddr is where the demo's alert receiver listens unless told
// otherwise.
const DefaultAlertsAddr = "127.0.0.1:18096"

// Where the receiver takes notifications, and the name of the demo
// network's delivery target that points at it.
const (
	alertsPath = "/demo-alerts"
	demoTarget = "demo-terminal"
)

// alertRules are the rules the demo writes as the default.yaml of its
// alert rules directory: windows short enough for a live demo.
//
//go:embed alertrules.yaml
var alertRules []byte

// AlertReceiver is the demo's delivery target: a generic-webhook receiver
// on loopback that logs every notification the alerter sends as a
// "demo alert" line, so the terminal shows alerts firing and resolving.
type AlertReceiver struct {
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
	log      atomic.Pointer[zerolog.Logger]
	received atomic.Int64
}

// ListenAlerts starts the receiver on addr (host:port; port 0 picks a free
// one). An empty addr means no receiver: nil, nil. Notifications are
// logged once SetLogger has given it a logger.
func ListenAlerts(addr string) (*AlertReceiver, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo-alerts-addr: listening on %s: %w", addr, err)
	}
	r := &AlertReceiver{ln: ln, done: make(chan struct{})}
	nop := zerolog.Nop()
	r.log.Store(&nop)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+alertsPath, r.notification)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(r.done)
		r.srv.Serve(ln)
	}()
	return r, nil
}

// URL is where the receiver takes notifications (the delivery target's
// url); "" for no receiver.
func (r *AlertReceiver) URL() string {
	if r == nil {
		return ""
	}
	return "http://" + r.ln.Addr().String() + alertsPath
}

// SetLogger is where notifications are logged from now on.
func (r *AlertReceiver) SetLogger(log zerolog.Logger) {
	if r != nil {
		r.log.Store(&log)
	}
}

// Received is how many notifications arrived.
func (r *AlertReceiver) Received() int64 {
	if r == nil {
		return 0
	}
	return r.received.Load()
}

// Close stops serving.
func (r *AlertReceiver) Close() error {
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if err != nil {
		r.srv.Close()
	}
	<-r.done
	return err
}

// notification takes the generic webhook's body (docs/alerts.md) and logs it.
func (r *AlertReceiver) notification(w http.ResponseWriter, req *http.Request) {
	var n struct {
		Event string        `json:"event"`
		Alert alerter.Alert `json:"alert"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &n)
	}
	if err != nil {
		http.Error(w, "not a throughline alert: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.received.Add(1)
	a := n.Alert
	log := r.log.Load()
	ev := log.Warn()
	if n.Event == alerter.StatusResolved {
		ev = log.Info()
	}
	ev = ev.Str("event", n.Event).Str("tenant", a.Tenant).Str("account", a.Account).Str("rule", a.Rule).
		Str("severity", a.Severity).Str("title", a.Title).Str("summary", a.Summary)
	if a.Subject != "" {
		ev = ev.Str("subject", a.Subject)
	}
	if a.ResolvedAt > 0 && a.FiredAt > 0 {
		ev = ev.Dur("lasted", time.Duration(a.ResolvedAt-a.FiredAt)*time.Millisecond)
	}
	ev.Str("delivery", req.Header.Get("X-Throughline-Delivery")).Msg("demo alert")
	w.WriteHeader(http.StatusNoContent)
}

// PrepareAlertRules makes dir ready as the demo's alert rules directory
// (--alerter-rules-dir). A missing default.yaml is written with the demo's
// rules. The demo network's file (<TenantID>.yaml) holds the receiver at
// receiverURL as its delivery target demoTarget: the file is written when
// missing; in an existing one the target's url is pointed at receiverURL
// when the receiver moved (another --demo-alerts-addr), and the target is
// removed when receiverURL is empty (no receiver). Anything else in the
// files is left as it is. It returns what it did, e.g. "created
// default.yaml, demo-network.yaml", or "" when nothing.
func PrepareAlertRules(dir, receiverURL string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating alert rules dir: %w", err)
	}
	var did []string
	path := filepath.Join(dir, "default.yaml")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := writeFileAtomic(path, alertRules); err != nil {
			return "", err
		}
		did = append(did, "created default.yaml")
	}
	name := TenantID + ".yaml"
	path = filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if receiverURL == "" {
			break
		}
		if err := writeFileAtomic(path, targetsFile(receiverURL)); err != nil {
			return "", err
		}
		did = append(did, "created "+name)
	case err != nil:
		return "", fmt.Errorf("reading alert rules: %w", err)
	default:
		out, action, err := retarget(b, receiverURL)
		if err != nil {
			return "", fmt.Errorf("alert rules %s: %w", name, err)
		}
		if action == "" {
			break
		}
		if err := writeFileAtomic(path, out); err != nil {
			return "", err
		}
		did = append(did, action+" in "+name)
	}
	return strings.Join(did, ", "), nil
}

func targetsFile(receiverURL string) []byte {
	return fmt.Appendf(nil, `# Alert delivery of the demo network, written by `+"`throughline demo`"+`.
# %s is the demo's receiver (--demo-alerts-addr): it logs every
# notification as a "demo alert" line. Add your own targets — a Telegram bot,
# a Slack webhook — and rules for this tenant here (docs/alerts.md).
targets:
  - name: %s
    type: webhook
    url: %s
`, demoTarget, demoTarget, receiverURL)
}

// retarget points the demo target of a tenant's rules file at receiverURL,
// or removes it when receiverURL is empty. It returns the new file and what
// changed ("" for nothing).
func retarget(b []byte, receiverURL string) ([]byte, string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, "", err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, "", nil
	}
	targets := mapValue(doc.Content[0], "targets")
	if targets == nil || targets.Kind != yaml.SequenceNode {
		return nil, "", nil
	}
	action := ""
	for i, t := range targets.Content {
		if name := mapValue(t, "name"); name == nil || name.Value != demoTarget {
			continue
		}
		if receiverURL == "" {
			targets.Content = append(targets.Content[:i], targets.Content[i+1:]...)
			action = "removed target " + demoTarget
			break
		}
		u := mapValue(t, "url")
		if u == nil || u.Value == receiverURL || !strings.HasSuffix(u.Value, alertsPath) {
			break // not the demo's receiver: the user's to change
		}
		u.Value = receiverURL
		action = "pointed target " + demoTarget + " at " + receiverURL
		break
	}
	if action == "" {
		return nil, "", nil
	}
	var sb strings.Builder
	enc := yaml.NewEncoder(&sb)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, "", err
	}
	if err := enc.Close(); err != nil {
		return nil, "", err
	}
	return []byte(sb.String()), action, nil
}

// mapValue is the value of key in a mapping node, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".alerts-*.yaml")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
