package console

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/throughline/throughline/services/console/analytics"
)

// reportColumns are a report row's values after its dimensions, with the
// decimals each is rounded to in answers: money to 2, the rest to 4.
var reportColumns = []struct {
	name   string
	places int
	get    func(analytics.Row) *float64
}{
	{"cost", 2, func(r analytics.Row) *float64 { return &r.Cost }},
	{"clicks", 4, func(r analytics.Row) *float64 { return &r.Clicks }},
	{"impressions", 4, func(r analytics.Row) *float64 { return &r.Impressions }},
	{"sessions", 4, func(r analytics.Row) *float64 { return &r.Sessions }},
	{"leads", 4, func(r analytics.Row) *float64 { return &r.Leads }},
	{"leads_call", 4, func(r analytics.Row) *float64 { return &r.LeadsCall }},
	{"leads_form", 4, func(r analytics.Row) *float64 { return &r.LeadsForm }},
	{"leads_chat", 4, func(r analytics.Row) *float64 { return &r.LeadsChat }},
	{"leads_crm", 4, func(r analytics.Row) *float64 { return &r.LeadsCRM }},
	{"target_leads", 4, func(r analytics.Row) *float64 { return &r.TargetLeads }},
	{"unique_leads", 4, func(r analytics.Row) *float64 { return &r.UniqueLeads }},
	{"deals", 4, func(r analytics.Row) *float64 { return &r.Deals }},
	{"won_deals", 4, func(r analytics.Row) *float64 { return &r.WonDeals }},
	{"revenue", 2, func(r analytics.Row) *float64 { return &r.Revenue }},
	{"units", 4, func(r analytics.Row) *float64 { return &r.Units }},
	{"new_customers", 4, func(r analytics.Row) *float64 { return &r.NewCustomers }},
	{"cpc", 2, func(r analytics.Row) *float64 { return r.CPC }},
	{"cpl", 2, func(r analytics.Row) *float64 { return r.CPL }},
	{"cpl_call", 2, func(r analytics.Row) *float64 { return r.CPLCall }},
	{"cpl_form", 2, func(r analytics.Row) *float64 { return r.CPLForm }},
	{"cpl_chat", 2, func(r analytics.Row) *float64 { return r.CPLChat }},
	{"cpl_crm", 2, func(r analytics.Row) *float64 { return r.CPLCRM }},
	{"cpa", 2, func(r analytics.Row) *float64 { return r.CPA }},
	{"cps", 2, func(r analytics.Row) *float64 { return r.CPS }},
	{"cac", 2, func(r analytics.Row) *float64 { return r.CAC }},
	{"cr", 4, func(r analytics.Row) *float64 { return r.CR }},
	{"aov", 2, func(r analytics.Row) *float64 { return r.AOV }},
	{"cost_per_unit", 2, func(r analytics.Row) *float64 { return r.CostPerUnit }},
	{"roi", 4, func(r analytics.Row) *float64 { return r.ROI }},
	{"romi", 4, func(r analytics.Row) *float64 { return r.ROMI }},
}

// ReportAnswer is the JSON form of a report. Rows are objects keyed by the
// dimensions and the columns; an empty metric (zero divisor) is null.
type ReportAnswer struct {
	Tenant   string            `json:"tenant"`
	Account  string            `json:"account,omitempty"`
	From     string            `json:"from"`
	To       string            `json:"to"`
	Model    string            `json:"model"`
	By       []string          `json:"by"`
	Currency string            `json:"currency"`
	Margin   float64           `json:"margin"`
	Columns  []string          `json:"columns"`
	Rows     []json.RawMessage `json:"rows"`
	Total    json.RawMessage   `json:"total"`
}

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	r := math.Round(v*p) / p
	if r == 0 {
		return 0 // no -0
	}
	return r
}

func renderReport(rep *analytics.Report, format string) ([]byte, string, error) {
	q := rep.Query
	dims := make([]string, len(q.By))
	for i, d := range q.By {
		dims[i] = string(d)
	}
	cols := append([]string{}, dims...)
	for _, c := range reportColumns {
		cols = append(cols, c.name)
	}
	if format == FormatCSV {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write(cols)
		for _, row := range rep.Rows {
			rec := append([]string{}, row.Keys...)
			for _, c := range reportColumns {
				rec = append(rec, csvNumber(c.get(row), c.places))
			}
			w.Write(rec)
		}
		w.Flush()
		return buf.Bytes(), "text/csv; charset=utf-8", w.Error()
	}
	a := ReportAnswer{Tenant: q.Tenant, Account: q.Account, From: q.From.Format(time.DateOnly), To: q.To.Format(time.DateOnly),
		Model: q.Model, By: dims, Currency: q.Currency, Margin: q.Margin, Columns: cols, Rows: make([]json.RawMessage, 0, len(rep.Rows))}
	for _, row := range rep.Rows {
		a.Rows = append(a.Rows, rowJSON(dims, row))
	}
	a.Total = rowJSON(nil, rep.Total)
	b, err := json.Marshal(a)
	return b, "application/json", err
}

// rowJSON writes a row as an object with its keys in column order.
func rowJSON(dims []string, row analytics.Row) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, d := range dims {
		k, _ := json.Marshal(d)
		v, _ := json.Marshal(row.Keys[i])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
		b.WriteByte(',')
	}
	for i, c := range reportColumns {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:", c.name)
		if v := c.get(row); v == nil {
			b.WriteString("null")
		} else {
			b.WriteString(strconv.FormatFloat(round(*v, c.places), 'f', -1, 64))
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

func csvNumber(v *float64, places int) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(round(*v, places), 'f', -1, 64)
}

// FlowAnswer is the JSON form of the lead flow.
type FlowAnswer struct {
	Tenant   string      `json:"tenant"`
	Account  string      `json:"account,omitempty"`
	From     string      `json:"from"`
	To       string      `json:"to"`
	Timezone string      `json:"timezone"`
	Rows     []FlowPoint `json:"rows"`
}

// FlowPoint is leads of one channel in one hour (its start, in the
// tenant's time zone).
type FlowPoint struct {
	Hour    string `json:"hour"`
	Channel string `json:"channel"`
	Leads   int64  `json:"leads"`
}

func renderFlow(q analytics.FlowQuery, loc *time.Location, points []analytics.FlowPoint, format string) ([]byte, string, error) {
	rows := make([]FlowPoint, 0, len(points))
	for _, p := range points {
		rows = append(rows, FlowPoint{Hour: p.Hour.In(loc).Format(time.RFC3339), Channel: p.Channel, Leads: p.Leads})
	}
	if format == FormatCSV {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{"hour", "channel", "leads"})
		for _, p := range rows {
			w.Write([]string{p.Hour, p.Channel, strconv.FormatInt(p.Leads, 10)})
		}
		w.Flush()
		return buf.Bytes(), "text/csv; charset=utf-8", w.Error()
	}
	b, err := json.Marshal(FlowAnswer{Tenant: q.Tenant, Account: q.Account, From: q.From.In(loc).Format(time.RFC3339),
		To: q.To.In(loc).Format(time.RFC3339), Timezone: loc.String(), Rows: rows})
	return b, "application/json", err
}
