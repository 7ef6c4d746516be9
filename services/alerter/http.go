package alerter

import (
	"encoding/json"
	"net/http"
)

// AlertsView is the body of GET /v1/alerts.
type AlertsView struct {
	Tenant string `json:"tenant"`
	// State is this instance's: live, catching_up (history still being
	// read: the lists may be incomplete) or standby (another instance is
	// active; read the alerts table instead).
	State     string  `json:"state"`
	EventTime int64   `json:"event_time,omitempty"` // the alerter's clock, Unix ms
	Active    []Alert `json:"active"`
	Recent    []Alert `json:"recent"` // resolved within --alerter-recent
}

// Handler serves GET /v1/alerts?tenant=<id>[&account=<id>]: the tenant's
// open incidents and recently resolved ones, newest first. It does no
// authentication: the console mounts it behind its per-tenant tokens.
func (a *Alerter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/alerts", a.serveAlerts)
	return mux
}

func (a *Alerter) serveAlerts(w http.ResponseWriter, r *http.Request) {
	tenant := r.URL.Query().Get("tenant")
	if tenant == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "tenant is required", "field": "tenant"})
		return
	}
	account := r.URL.Query().Get("account")
	active, recent := a.Alerts(tenant)
	v := AlertsView{Tenant: tenant, State: a.State(), Active: filter(active, account), Recent: filter(recent, account)}
	if now := a.mgr.Now(); !now.IsZero() {
		v.EventTime = now.UnixMilli()
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, v)
}

func filter(as []Alert, account string) []Alert {
	out := make([]Alert, 0, len(as))
	for _, al := range as {
		if account == "" || al.Account == account {
			out = append(out, al)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
