package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// refusalReason labels a refused stream in console.dashboard.refused_streams.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, errTenantFull):
		return "tenant_limit"
	case errors.Is(err, errHubFull):
		return "limit"
	}
	return "stopping"
}

// Hello is the first event ("hello") of every stream.
type Hello struct {
	Tenant  string `json:"tenant"`
	Account string `json:"account,omitempty"`
	Live    string `json:"live"` // the feed's state: starting or live
}

// serveStream is GET /v1/dashboard/leads/stream?tenant=[&account=]: the
// tenant's leads as server-sent events ("hello" once, then "lead" with a
// LiveLead each, and ": ping" comments while idle). A stream that falls
// behind gets "dropped" and ends; the page reconnects.
func (d *Dashboard) serveStream(w http.ResponseWriter, r *http.Request) {
	tenant, account, ok := d.scope(w, r)
	if !ok {
		return
	}
	if d.kafka == nil {
		writeError(w, http.StatusServiceUnavailable, "the live stream is off: this console has no Kafka connection")
		return
	}
	s, err := d.hub.subscribe(tenant, account)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, errTenantFull) {
			status = http.StatusTooManyRequests
		}
		d.refusedStreams.Add(context.Background(), 1, metric.WithAttributes(attribute.String("tenant", tenant),
			attribute.String("reason", refusalReason(err))))
		w.Header().Set("Retry-After", "5")
		writeError(w, status, err.Error())
		return
	}
	defer d.hub.unsubscribe(s)
	ctx := r.Context()
	d.streams.Add(context.Background(), 1)
	defer d.streams.Add(context.Background(), -1)

	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // the server's write timeout would end the stream; each write gets its own below
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	hello, _ := json.Marshal(Hello{Tenant: tenant, Account: account, Live: d.LiveState()})
	var buf bytes.Buffer
	send := func(event string, data []byte) error {
		buf.Reset()
		if event != "" {
			buf.WriteString("event: " + event + "\n")
			buf.WriteString("data: ")
			buf.Write(data)
			buf.WriteString("\n\n")
		} else {
			buf.WriteString(": ping\n\n")
		}
		rc.SetWriteDeadline(time.Now().Add(d.cfg.WriteTimeout))
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send("hello", hello); err != nil {
		return
	}
	beat := time.NewTicker(d.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case msg, open := <-s.ch:
			if !open {
				if s.dropped {
					send("dropped", []byte(`{"reason":"the stream fell behind"}`))
				}
				return
			}
			if err := send("lead", msg); err != nil {
				return
			}
		case <-beat.C:
			if err := send("", nil); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// authorized resolves the request's tenant or answers the refusal.
func (d *Dashboard) authorized(w http.ResponseWriter, r *http.Request) (string, bool) {
	tenant, err := d.authorize(r)
	if err == nil && tenant == "" {
		err = &AuthError{Status: http.StatusBadRequest, Msg: "tenant: required"}
	}
	if err != nil {
		var ae *AuthError
		if !errors.As(err, &ae) {
			ae = &AuthError{Status: http.StatusInternalServerError, Msg: err.Error()}
		}
		if ae.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="throughline-reports"`)
		}
		writeError(w, ae.Status, ae.Msg)
		return "", false
	}
	return tenant, true
}

// scope resolves the request's tenant and its ?account=, or answers the
// refusal: what every dashboard endpoint does first.
func (d *Dashboard) scope(w http.ResponseWriter, r *http.Request) (tenant, account string, ok bool) {
	if tenant, ok = d.authorized(w, r); !ok {
		return "", "", false
	}
	if account, ok = d.account(w, r, tenant); !ok {
		return "", "", false
	}
	return tenant, account, true
}

// account checks ?account= against the tenant's branches (when the
// tenants file knows the tenant).
func (d *Dashboard) account(w http.ResponseWriter, r *http.Request, tenant string) (string, bool) {
	a := r.URL.Query().Get("account")
	if a == "" {
		return "", true
	}
	t, _ := d.tenants.Find(tenant, "")
	if t == nil {
		return a, true
	}
	for _, acc := range t.Accounts {
		if acc.ID == a {
			return a, true
		}
	}
	writeError(w, http.StatusNotFound, "account: "+a+" is not an account of tenant "+tenant)
	return "", false
}

// ErrorBody is the JSON body of every error answer (as the console's).
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ErrorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}
