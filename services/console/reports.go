package console

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console/analytics"
)

// The report endpoints and the dimensions each groups by; ?by= overrides.
var reportRoutes = []struct {
	name string
	by   []analytics.Dim
}{
	{"channels", []analytics.Dim{analytics.DimChannel}},
	{"sources", []analytics.Dim{analytics.DimChannel, analytics.DimSource, analytics.DimMedium}},
	{"campaigns", []analytics.Dim{analytics.DimChannel, analytics.DimSource, analytics.DimMedium, analytics.DimCampaign}},
	{"accounts", []analytics.Dim{analytics.DimAccount}},
	{"days", []analytics.Dim{analytics.DimDay}},
}

// DefaultReportDays is the range of a report that names no from.
const DefaultReportDays = 7

func (c *Console) setupReports(deps Deps) error {
	db := deps.Database
	if db == "" {
		db = DefaultDatabase
	}
	c.tenants = deps.Tenants
	if c.tenants == nil {
		c.tenants = &tenants.Config{}
	}
	c.keys = tenants.NewKeys(c.tenants)
	c.reports = analytics.NewReports(deps.Store, db, c.tenants.Zone)
	c.reportSem = make(chan struct{}, 2*c.cfg.MaxConcurrent)
	var err error
	if c.reqs, err = c.tel.Meter.Int64Counter("console.reports.requests",
		metric.WithDescription("report requests, by report and outcome (ok, rejected, unauthorized, forbidden, busy, failed)")); err != nil {
		return fmt.Errorf("creating console metrics: %w", err)
	}
	if c.reqTime, err = c.tel.Meter.Float64Histogram("console.reports.duration", metric.WithUnit("s"),
		metric.WithDescription("time to answer a report")); err != nil {
		return fmt.Errorf("creating console metrics: %w", err)
	}
	return nil
}

func (c *Console) mountReports(mux *http.ServeMux) {
	for _, rt := range reportRoutes {
		mux.HandleFunc("GET /v1/reports/"+rt.name, func(w http.ResponseWriter, r *http.Request) {
			c.handleReport(w, r, rt.name, rt.by)
		})
	}
	mux.HandleFunc("GET /v1/reports/leadflow", c.handleLeadFlow)
	mux.HandleFunc("GET /v1/reports/markov", c.handleMarkov)
}

// reportError is an answer other than 200, with its status.
type reportError struct {
	status  int
	outcome string
	msg     string
}

func (e *reportError) Error() string { return e.msg }

func badRequest(format string, args ...any) *reportError {
	return &reportError{http.StatusBadRequest, "rejected", fmt.Sprintf(format, args...)}
}

// reader resolves who asks: a tenant's read token reads that tenant only;
// the admin token (--sql-token) reads every tenant. There is no open
// console: no token is 401, on loopback too (a page in the operator's
// browser can reach loopback). It returns the tenant a token is bound to,
// or "" for every tenant.
func (c *Console) reader(r *http.Request) (string, *reportError) {
	auth := r.Header.Get("Authorization")
	token, hasToken := strings.CutPrefix(auth, "Bearer ")
	token = strings.TrimSpace(token)
	switch {
	case hasToken && token != "":
		if t, ok := c.keys.LookupReader(token); ok {
			return t, nil
		}
		if c.cfg.SQLToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(c.cfg.SQLToken)) == 1 {
			return "", nil
		}
	}
	return "", &reportError{http.StatusUnauthorized, "unauthorized", "a tenant's read token (read_tokens in the tenants file) or the admin token is required: Authorization: Bearer <token>"}
}

// tenantOf picks the tenant the request reads: the token's, which ?tenant=
// may only repeat.
func (c *Console) tenantOf(r *http.Request) (*tenants.Tenant, string, *reportError) {
	bound, rerr := c.reader(r)
	if rerr != nil {
		return nil, "", rerr
	}
	id := r.URL.Query().Get("tenant")
	switch {
	case bound != "" && id == "":
		id = bound
	case bound != "" && id != bound:
		return nil, "", &reportError{http.StatusForbidden, "forbidden", "this token reads tenant " + bound + " only"}
	case id == "" && len(c.tenants.Tenants) == 1:
		id = c.tenants.Tenants[0].ID
	case id == "":
		return nil, "", badRequest("tenant: required")
	}
	for i := range c.tenants.Tenants {
		if c.tenants.Tenants[i].ID == id {
			return &c.tenants.Tenants[i], id, nil
		}
	}
	if len(c.tenants.Tenants) > 0 {
		return nil, "", &reportError{http.StatusNotFound, "rejected", fmt.Sprintf("tenant: %q is not configured", id)}
	}
	return nil, id, nil // no tenants file: any tenant id, UTC, no margin
}

// accountOf checks ?account= against the tenant's accounts.
func accountOf(r *http.Request, t *tenants.Tenant) (string, *reportError) {
	a := r.URL.Query().Get("account")
	if a == "" || t == nil || a == analytics.Unattributed {
		return a, nil
	}
	for _, acc := range t.Accounts {
		if acc.ID == a {
			return a, nil
		}
	}
	return "", &reportError{http.StatusNotFound, "rejected", fmt.Sprintf("account: %q is not an account of tenant %s", a, t.ID)}
}

func zoneOf(t *tenants.Tenant) *time.Location {
	if t != nil && t.Timezone != "" {
		if loc, err := time.LoadLocation(t.Timezone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// reportQuery reads a report's parameters.
func reportQuery(r *http.Request, t *tenants.Tenant, id, account string, by []analytics.Dim, now time.Time) (analytics.Query, *reportError) {
	v := r.URL.Query()
	q := analytics.Query{Tenant: id, Account: account, Model: v.Get("model"), By: by}
	if q.Model == "" {
		q.Model = analytics.DefaultModel
	}
	if t != nil {
		q.Margin, q.Currency = t.Margin, t.Currency
	}
	if q.Currency == "" {
		q.Currency = "RUB"
	}
	if s := v.Get("by"); s != "" {
		q.By = nil
		for _, d := range strings.Split(s, ",") {
			q.By = append(q.By, analytics.Dim(strings.TrimSpace(d)))
		}
	}
	today := now.In(zoneOf(t))
	q.To = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	var err error
	if s := v.Get("to"); s != "" {
		if q.To, err = time.Parse(time.DateOnly, s); err != nil {
			return q, badRequest("to: %q is not a date (YYYY-MM-DD)", s)
		}
	}
	q.From = q.To.AddDate(0, 0, -(DefaultReportDays - 1))
	if s := v.Get("from"); s != "" {
		if q.From, err = time.Parse(time.DateOnly, s); err != nil {
			return q, badRequest("from: %q is not a date (YYYY-MM-DD)", s)
		}
	}
	if err := q.Validate(); err != nil {
		return q, badRequest("%s", err.Error())
	}
	return q, nil
}

// reportRun runs a parsed report and renders it: body and content type.
type reportRun func(ctx context.Context) ([]byte, string, error)

// serveReport is what every report endpoint does around its own query: the
// tenant from the read token, the account and format from the parameters,
// parse (the report's own parameters, bound into its query), a slot among
// the running reports, run, metrics. An error of parse is the caller's (4xx);
// an error of run is ours (500, logged).
func (c *Console) serveReport(w http.ResponseWriter, r *http.Request, name string,
	parse func(t *tenants.Tenant, id, account, format string) (reportRun, *reportError)) {
	start := time.Now()
	t, id, rerr := c.tenantOf(r)
	var run reportRun
	if rerr == nil {
		var account, format string
		if account, rerr = accountOf(r, t); rerr == nil {
			if format, rerr = reportFormat(r); rerr == nil {
				run, rerr = parse(t, id, account, format)
			}
		}
	}
	if rerr != nil {
		c.reportFailed(w, r, name, rerr)
		return
	}
	release, rerr := c.acquireReport(r.Context())
	if rerr != nil {
		c.reportFailed(w, r, name, rerr)
		return
	}
	body, ctype, err := run(r.Context())
	release()
	if err != nil {
		c.log.Error().Err(err).Str("tenant", id).Str("report", name).Msg("report failed")
		c.reportFailed(w, r, name, &reportError{http.StatusInternalServerError, "failed", err.Error()})
		return
	}
	c.reportDone(r.Context(), name, start)
	w.Header().Set("Content-Type", ctype)
	w.Write(body)
}

func (c *Console) handleReport(w http.ResponseWriter, r *http.Request, name string, by []analytics.Dim) {
	c.serveReport(w, r, name, func(t *tenants.Tenant, id, account, format string) (reportRun, *reportError) {
		q, rerr := reportQuery(r, t, id, account, by, time.Now())
		if rerr != nil {
			return nil, rerr
		}
		return func(ctx context.Context) ([]byte, string, error) {
			rep, err := c.reports.Report(ctx, q)
			if err != nil {
				return nil, "", err
			}
			return renderReport(rep, format)
		}, nil
	})
}

func (c *Console) handleLeadFlow(w http.ResponseWriter, r *http.Request) {
	c.serveReport(w, r, "leadflow", func(t *tenants.Tenant, id, account, format string) (reportRun, *reportError) {
		loc := zoneOf(t)
		q, rerr := flowQuery(r, id, account, loc, time.Now())
		if rerr != nil {
			return nil, rerr
		}
		return func(ctx context.Context) ([]byte, string, error) {
			points, err := c.reports.LeadFlow(ctx, q)
			if err != nil {
				return nil, "", err
			}
			return renderFlow(q, loc, points, format)
		}, nil
	})
}

// flowQuery reads from/to as RFC 3339 times or days (midnight in the
// tenant's zone); the default is the last 24 hours to the end of this hour.
func flowQuery(r *http.Request, id, account string, loc *time.Location, now time.Time) (analytics.FlowQuery, *reportError) {
	q := analytics.FlowQuery{Tenant: id, Account: account}
	var rerr *reportError
	back := func(to time.Time) time.Time { return to.Add(-24 * time.Hour) }
	if q.From, q.To, rerr = instantWindow(r, loc, now.Truncate(time.Hour).Add(time.Hour), back); rerr != nil {
		return q, rerr
	}
	if err := q.Validate(); err != nil {
		return q, badRequest("%s", err.Error())
	}
	return q, nil
}

// instantWindow reads ?to= and ?from= as RFC 3339 times or days (midnight
// in loc); to defaults to defTo, from to back(to).
func instantWindow(r *http.Request, loc *time.Location, defTo time.Time, back func(time.Time) time.Time) (from, to time.Time, rerr *reportError) {
	v := r.URL.Query()
	to = defTo
	var err error
	if s := v.Get("to"); s != "" {
		if to, err = parseInstant(s, loc); err != nil {
			return from, to, badRequest("to: %v", err)
		}
	}
	from = back(to)
	if s := v.Get("from"); s != "" {
		if from, err = parseInstant(s, loc); err != nil {
			return from, to, badRequest("from: %v", err)
		}
	}
	return from, to, nil
}

func parseInstant(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or a date (YYYY-MM-DD)", s)
}

// reportFormat is ?format= (json, csv) or the Accept header, else JSON.
func reportFormat(r *http.Request) (string, *reportError) {
	f := strings.ToLower(r.URL.Query().Get("format"))
	switch f {
	case "":
		if strings.Contains(r.Header.Get("Accept"), "text/csv") {
			return FormatCSV, nil
		}
		return FormatJSON, nil
	case FormatJSON, FormatCSV:
		return f, nil
	}
	return "", badRequest("format: %q is not json or csv", f)
}

// acquireReport waits for a slot while the request lasts, at most a second.
func (c *Console) acquireReport(ctx context.Context) (func(), *reportError) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case c.reportSem <- struct{}{}:
		return func() { <-c.reportSem }, nil
	case <-ctx.Done():
	case <-t.C:
	}
	return nil, &reportError{http.StatusServiceUnavailable, "busy", "too many reports are running; retry shortly"}
}

func (c *Console) reportFailed(w http.ResponseWriter, r *http.Request, name string, e *reportError) {
	c.reqs.Add(r.Context(), 1, metric.WithAttributes(attribute.String("report", name), attribute.String("outcome", e.outcome)))
	switch e.status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="throughline-reports"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, e.status, e.msg)
}

func (c *Console) reportDone(ctx context.Context, name string, start time.Time) {
	c.reqs.Add(ctx, 1, metric.WithAttributes(attribute.String("report", name), attribute.String("outcome", "ok")))
	c.reqTime.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("report", name)))
}
