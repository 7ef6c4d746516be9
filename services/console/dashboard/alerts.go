package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/contract/alert"
)

// AlertsView is the body of GET /v1/alerts when it is read from the alerts
// table (the alerter's own view has the same fields).
type AlertsView struct {
	Tenant string `json:"tenant"`
	// State is table (read from ClickHouse) or unavailable (no alerter and
	// no alerts table).
	State  string       `json:"state"`
	Active []TableAlert `json:"active"`
	Recent []TableAlert `json:"recent"`
}

// TableAlert is the latest version of an incident in the alerts table, in
// the alerter's JSON form (docs/alerts.md): the alert record of
// pkg/contract/alert.
type TableAlert = alert.Record

// RecentAlerts is how long resolved alerts read from the table are listed.
const RecentAlerts = 24 * time.Hour

// maxTableAlerts bounds the alerts read from the table for one answer.
const maxTableAlerts = 1000

// serveAlerts is GET /v1/alerts?tenant=[&account=]: the tenant's active
// and recently resolved alerts, from the alerter when the console has it,
// else from the alerts table. The tenant is always the token's.
func (d *Dashboard) serveAlerts(w http.ResponseWriter, r *http.Request) {
	tenant, account, ok := d.scope(w, r)
	if !ok {
		return
	}
	if d.alerts != nil {
		forward(w, r, d.alerts, "/v1/alerts", tenant, account)
		return
	}
	view := AlertsView{Tenant: tenant, State: "unavailable", Active: []TableAlert{}, Recent: []TableAlert{}}
	if !d.alertsTable(r.Context()) {
		writeJSON(w, view)
		return
	}
	// The latest version of each incident (1 firing, 2 resolved): open
	// ones, and ones resolved within RecentAlerts.
	res, err := d.store.Query(r.Context(), d.sql(`SELECT id, version, account, rule, kind, severity, subject, status, title, summary,
  value, threshold, labels, toUnixTimestamp64Milli(fired_at) AS fired, toUnixTimestamp64Milli(resolved_at) AS resolved,
  toUnixTimestamp64Milli(recorded_at)
FROM (
  SELECT * FROM ${db}.alerts
  WHERE tenant = {tenant:String} AND ({account:String} = '' OR account = {account:String})
  ORDER BY id, version DESC
  LIMIT 1 BY id
)
WHERE status = 'firing' OR resolved_at >= fromUnixTimestamp64Milli({since:Int64})
ORDER BY status = 'firing' DESC, greatest(fired, resolved) DESC, id
LIMIT {limit:UInt32}`), chstore.Params{"tenant": tenant, "account": account,
		"since": strconv.FormatInt(time.Now().Add(-RecentAlerts).UnixMilli(), 10), "limit": strconv.Itoa(maxTableAlerts)})
	if err != nil {
		d.failed(w, "alerts", tenant, err)
		return
	}
	view.State = "table"
	for _, row := range res.Rows {
		a := TableAlert{ID: str(row[0]), Version: uint64(num(row[1])), Tenant: tenant, Account: str(row[2]), Rule: str(row[3]),
			Kind: str(row[4]), Severity: str(row[5]), Subject: str(row[6]), Status: str(row[7]), Title: str(row[8]),
			Summary: str(row[9]), Value: float(row[10]), Threshold: float(row[11]), FiredAt: num(row[13]), RecordedAt: num(row[15])}
		if m, ok := row[12].(map[string]any); ok && len(m) > 0 {
			a.Labels = make(map[string]string, len(m))
			for k, v := range m {
				a.Labels[k] = str(v)
			}
		}
		if a.Status == alert.Firing {
			view.Active = append(view.Active, a)
		} else {
			a.ResolvedAt = num(row[14])
			view.Recent = append(view.Recent, a)
		}
	}
	writeJSON(w, view)
}

// forward answers r with h, an in-process handler of another service (the
// alerter's alerts, the collector's cost connectors), asked at path for the
// token's tenant and the checked account only. The tenant's token stays
// here: h does not need it.
func forward(w http.ResponseWriter, r *http.Request, h http.Handler, path, tenant, account string) {
	q := url.Values{"tenant": {tenant}}
	if account != "" {
		q.Set("account", account)
	}
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: path, RawQuery: q.Encode()}
	r2.RequestURI = r2.URL.RequestURI()
	r2.Header.Del("Authorization")
	h.ServeHTTP(w, r2)
}
