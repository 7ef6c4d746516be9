package dashboard

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/services/console/analytics"
)

// TenantInfo is GET /v1/dashboard/tenant: who the token reads and what the
// page needs to draw its pickers.
type TenantInfo struct {
	Tenant       string    `json:"tenant"`
	Name         string    `json:"name,omitempty"`
	Timezone     string    `json:"timezone"`
	Currency     string    `json:"currency"`
	Margin       float64   `json:"margin"`
	Today        string    `json:"today"` // in the tenant's time zone
	Accounts     []Account `json:"accounts"`
	Models       []string  `json:"models"`
	DefaultModel string    `json:"default_model"`
	// Live is the live feed's state: off (no Kafka), stopped, starting, live.
	Live string `json:"live"`
	// Alerts is where alerts come from: alerter, table or none.
	Alerts string `json:"alerts"`
}

// Account is a branch in the picker.
type Account struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

func (d *Dashboard) serveTenant(w http.ResponseWriter, r *http.Request) {
	tenant, _, ok := d.scope(w, r)
	if !ok {
		return
	}
	info := TenantInfo{Tenant: tenant, Timezone: "UTC", Currency: "RUB", Accounts: []Account{},
		Models: analytics.Models, DefaultModel: analytics.DefaultModel, Live: d.LiveState()}
	if t, _ := d.tenants.Find(tenant, ""); t != nil {
		info.Name, info.Margin = t.Name, t.Margin
		if t.Timezone != "" {
			info.Timezone = t.Timezone
		}
		if t.Currency != "" {
			info.Currency = t.Currency
		}
		for _, a := range t.Accounts {
			info.Accounts = append(info.Accounts, Account{ID: a.ID, Name: a.Name})
		}
	}
	info.Today = time.Now().In(d.tenants.Location(tenant, "")).Format(time.DateOnly)
	switch {
	case d.alerts != nil:
		info.Alerts = "alerter"
	case d.alertsTable(r.Context()):
		info.Alerts = "table"
	default:
		info.Alerts = "none"
	}
	writeJSON(w, info)
}

// period reads ?from=&to= (days, both included, in the tenant's time
// zone; default the last 7 days) as the instants [from, to).
func (d *Dashboard) period(w http.ResponseWriter, r *http.Request, tenant string) (from, to time.Time, ok bool) {
	loc := d.tenants.Location(tenant, "")
	now := time.Now().In(loc)
	last := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	first := last.AddDate(0, 0, -6)
	for _, p := range []struct {
		name string
		v    *time.Time
	}{{"from", &first}, {"to", &last}} {
		if s := r.URL.Query().Get(p.name); s != "" {
			t, err := time.ParseInLocation(time.DateOnly, s, loc)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %q is not a date (YYYY-MM-DD)", p.name, s))
				return from, to, false
			}
			*p.v = t
		}
	}
	to = last.AddDate(0, 0, 1)
	if !to.After(first) || to.Sub(first) > analytics.MaxDays*24*time.Hour {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("from, to: from must not be after to, and at most %d days apart", analytics.MaxDays))
		return from, to, false
	}
	return first, to, true
}

// DeadLetters is GET /v1/dashboard/deadletters: dead letters per source in
// the period.
type DeadLetters struct {
	Tenant  string             `json:"tenant"`
	From    string             `json:"from"`
	To      string             `json:"to"`
	Sources []DeadLetterSource `json:"sources"`
}

// DeadLetterSource is one source's dead letters.
type DeadLetterSource struct {
	Source     string `json:"source"`
	Count      int64  `json:"count"`
	Last       int64  `json:"last"` // Unix ms of the latest
	LastReason string `json:"last_reason"`
}

func (d *Dashboard) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	tenant, account, ok := d.scope(w, r)
	if !ok {
		return
	}
	from, to, ok := d.period(w, r, tenant)
	if !ok {
		return
	}
	res, err := d.store.Query(r.Context(), d.sql(`SELECT source, count() AS n, toUnixTimestamp64Milli(max(received_at)) AS last,
  argMax(reason, received_at) AS reason
FROM ${db}.dead_letters
WHERE tenant = {tenant:String} AND ({account:String} = '' OR account = {account:String})
  AND received_at >= fromUnixTimestamp64Milli({from:Int64}) AND received_at < fromUnixTimestamp64Milli({to:Int64})
GROUP BY source
ORDER BY n DESC, source`), chstore.Params{"tenant": tenant, "account": account,
		"from": strconv.FormatInt(from.UnixMilli(), 10), "to": strconv.FormatInt(to.UnixMilli(), 10)})
	if err != nil {
		d.failed(w, "dead letters", tenant, err)
		return
	}
	out := DeadLetters{Tenant: tenant, From: from.Format(time.DateOnly), To: to.AddDate(0, 0, -1).Format(time.DateOnly),
		Sources: make([]DeadLetterSource, 0, len(res.Rows))}
	for _, row := range res.Rows {
		out.Sources = append(out.Sources, DeadLetterSource{Source: str(row[0]), Count: num(row[1]), Last: num(row[2]), LastReason: str(row[3])})
	}
	writeJSON(w, out)
}

// RecentLeads is GET /v1/dashboard/leads/recent: the newest leads, which
// the live view starts from.
type RecentLeads struct {
	Tenant string     `json:"tenant"`
	Leads  []LiveLead `json:"leads"`
}

// MaxRecentLeads bounds ?limit= of the recent leads.
const MaxRecentLeads = 200

func (d *Dashboard) serveRecentLeads(w http.ResponseWriter, r *http.Request) {
	tenant, account, ok := d.scope(w, r)
	if !ok {
		return
	}
	limit := 30
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxRecentLeads {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a number from 1 to %d", s, MaxRecentLeads))
			return
		}
		limit = n
	}
	res, err := d.store.Query(r.Context(), d.sql(`SELECT lead_id, account, toUnixTimestamp64Milli(ts), kind, channel, source, medium, campaign,
  contacts, deals, won_deals, revenue_minor
FROM ${db}.leads FINAL
WHERE tenant = {tenant:String} AND ({account:String} = '' OR account = {account:String}) AND deleted = 0
ORDER BY ts DESC, lead_id
LIMIT {limit:UInt32}`), chstore.Params{"tenant": tenant, "account": account, "limit": strconv.Itoa(limit)})
	if err != nil {
		d.failed(w, "recent leads", tenant, err)
		return
	}
	scale := math.Pow10(analytics.MinorDigits(d.currency(tenant)))
	out := RecentLeads{Tenant: tenant, Leads: make([]LiveLead, 0, len(res.Rows))}
	for _, row := range res.Rows {
		out.Leads = append(out.Leads, LiveLead{LeadID: str(row[0]), Account: str(row[1]), TS: num(row[2]), Kind: str(row[3]),
			Channel: str(row[4]), Source: str(row[5]), Medium: str(row[6]), Campaign: str(row[7]),
			Contacts: int(num(row[8])), Deals: int(num(row[9])), WonDeals: int(num(row[10])), Revenue: float64(num(row[11])) / scale})
	}
	writeJSON(w, out)
}

func (d *Dashboard) currency(tenant string) string {
	if t, _ := d.tenants.Find(tenant, ""); t != nil && t.Currency != "" {
		return t.Currency
	}
	return "RUB"
}

// sql puts the database name into a statement (never a value: those are
// bound as parameters).
func (d *Dashboard) sql(q string) string { return strings.ReplaceAll(q, "${db}", d.db) }

func (d *Dashboard) failed(w http.ResponseWriter, what, tenant string, err error) {
	d.log.Error().Err(err).Str("tenant", tenant).Str("view", what).Msg("dashboard query failed")
	writeError(w, http.StatusInternalServerError, "reading "+what+": "+err.Error())
}

// alertsTable reports whether the alerts table exists.
func (d *Dashboard) alertsTable(ctx context.Context) bool {
	res, err := d.store.Query(ctx, d.sql("EXISTS TABLE ${db}.alerts"), nil)
	return err == nil && len(res.Rows) == 1 && len(res.Rows[0]) == 1 && num(res.Rows[0][0]) == 1
}

// Values of a chstore.Result, read as chstore reads them; num also takes a
// whole number written as a float.
func str(v any) string { return chstore.AsString(v) }

func float(v any) float64 { return chstore.AsFloat64(v) }

func num(v any) int64 {
	s := str(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	f, _ := strconv.ParseFloat(s, 64)
	return int64(f)
}
