package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// AlertsView is the body of GET /v1/alerts when it is read from the alerts
// table (the alerter's own view has the same fields).
type AlertsView struct {
	Tenant string `json:"tenant"`
	// State is table (read from ClickHouse) or unavailable (no alerter and
	// no alerts table).
	State  string           `json:"state"`
	Active []map[string]any `json:"active"`
	Recent []map[string]any `json:"recent"`
}

// RecentAlerts is how long resolved alerts read from the table are listed.
const RecentAlerts = 24 * time.Hour

// maxTableAlerts bounds the alerts read from the table for one answer.
const maxTableAlerts = 500

// serveAlerts is GET /v1/alerts?tenant=[&account=]: the tenant's active
// and recently resolved alerts, from the alerter when the console has it,
// else from the alerts table. The tenant is always the token's.
func (d *Dashboard) serveAlerts(w http.ResponseWriter, r *http.Request) {
	tenant, ok := d.authorized(w, r)
	if !ok {
		return
	}
	account, ok := d.account(w, r, tenant)
	if !ok {
		return
	}
	if d.alerts != nil {
		q := url.Values{"tenant": {tenant}}
		if account != "" {
			q.Set("account", account)
		}
		r2 := r.Clone(r.Context())
		r2.URL = &url.URL{Path: "/v1/alerts", RawQuery: q.Encode()}
		r2.RequestURI = r2.URL.RequestURI()
		r2.Header.Del("Authorization") // the alerter does not need the tenant's token
		d.alerts.ServeHTTP(w, r2)
		return
	}
	view := AlertsView{Tenant: tenant, State: "unavailable", Active: []map[string]any{}, Recent: []map[string]any{}}
	if !d.alertsTable(r.Context()) {
		writeJSON(w, view)
		return
	}
	// The latest version of each incident; versions of one incident share
	// its id (1 firing, 2 resolved).
	res, err := d.store.Query(r.Context(), d.sql(`SELECT * FROM ${db}.alerts
WHERE tenant = {tenant:String} AND ({account:String} = '' OR account = {account:String})
ORDER BY id, version DESC
LIMIT 1 BY id`), chstore.Params{"tenant": tenant, "account": account})
	if err != nil {
		d.failed(w, "alerts", tenant, err)
		return
	}
	view.State = "table"
	since := time.Now().Add(-RecentAlerts).UnixMilli()
	for _, row := range res.Rows {
		a := make(map[string]any, len(res.Columns))
		for i, c := range res.Columns {
			if strings.HasPrefix(c.Name, "_") {
				continue
			}
			a[c.Name] = tableValue(c.Type, row[i])
		}
		switch a["status"] {
		case "firing":
			view.Active = append(view.Active, a)
		case "resolved":
			if ms, _ := a["resolved_at"].(int64); ms >= since {
				view.Recent = append(view.Recent, a)
			}
		}
	}
	newest := func(key string) func(a, b map[string]any) int {
		return func(a, b map[string]any) int {
			x, _ := a[key].(int64)
			y, _ := b[key].(int64)
			return int(min(max(y-x, -1), 1))
		}
	}
	slices.SortStableFunc(view.Active, newest("fired_at"))
	slices.SortStableFunc(view.Recent, newest("resolved_at"))
	view.Active = view.Active[:min(len(view.Active), maxTableAlerts)]
	view.Recent = view.Recent[:min(len(view.Recent), maxTableAlerts)]
	writeJSON(w, view)
}

// tableValue gives a column's value the alerter's JSON form: times as Unix
// ms, numbers as numbers.
func tableValue(typ string, v any) any {
	switch {
	case strings.Contains(typ, "DateTime"):
		s := str(v)
		if s == "" {
			return int64(0)
		}
		for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.DateTime} {
			if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				if t.Unix() <= 0 {
					return int64(0)
				}
				return t.UnixMilli()
			}
		}
		return num(v)
	case strings.Contains(typ, "Int"):
		return num(v)
	case strings.Contains(typ, "Float"), strings.Contains(typ, "Decimal"):
		f, _ := v.(interface{ Float64() (float64, error) })
		if f != nil {
			x, _ := f.Float64()
			return x
		}
		return float64(num(v))
	}
	return v
}
