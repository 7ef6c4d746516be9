package dashboard

import (
	"net/http"
	"strconv"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// Restatements is GET /v1/dashboard/restatements: the tenant's
// restatements (`throughline restate`) still running, so the dashboard can
// say that its figures are being re-derived. A run writes a start mark and,
// once every hit is sent, a done mark per account into the raw topic; both
// reach the events table (type restate, no client id), the done mark after
// the hits before it.
type Restatements struct {
	Tenant  string        `json:"tenant"`
	Running []Restatement `json:"running"`
}

// Restatement is one run not done for every account it started on.
type Restatement struct {
	ID           string `json:"id"`
	From         string `json:"from"`
	StartedAt    int64  `json:"started_at"`
	Accounts     int64  `json:"accounts"`
	AccountsDone int64  `json:"accounts_done"`
}

// RestatementWindow is how far back runs are looked for: a run not done in
// a day has failed, and says so on its terminal.
const RestatementWindow = 24 * time.Hour

func (d *Dashboard) serveRestatements(w http.ResponseWriter, r *http.Request) {
	tenant, ok := d.authorized(w, r)
	if !ok {
		return
	}
	res, err := d.store.Query(r.Context(), d.sql(`SELECT name, any(props['from']), toUnixTimestamp64Milli(min(received_at)),
  uniqExactIf(account, props['state'] = 'start') AS started, uniqExactIf(account, props['state'] = 'done') AS done
FROM ${db}.events
WHERE tenant = {tenant:String} AND type = 'restate' AND client_id = '' AND ts >= fromUnixTimestamp64Milli({since:Int64})
GROUP BY name
HAVING done < started
ORDER BY min(received_at)
LIMIT 100`), chstore.Params{"tenant": tenant, "since": strconv.FormatInt(time.Now().Add(-RestatementWindow).UnixMilli(), 10)})
	if err != nil {
		d.failed(w, "restatements", tenant, err)
		return
	}
	out := Restatements{Tenant: tenant, Running: make([]Restatement, 0, len(res.Rows))}
	for _, row := range res.Rows {
		out.Running = append(out.Running, Restatement{ID: str(row[0]), From: str(row[1]), StartedAt: num(row[2]),
			Accounts: num(row[3]), AccountsDone: num(row[4])})
	}
	writeJSON(w, out)
}
