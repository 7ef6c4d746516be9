package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/console/analytics"
)

// DefaultMarkovDays is the period of a Markov report that names no from.
const DefaultMarkovDays = 30

// MarkovAnswer is the JSON form of the data-driven attribution. Journeys are
// counted in Paths (converting ones in ConvertingPaths); leads without a
// touchpoint are left out of the chain and counted in UntouchedLeads.
type MarkovAnswer struct {
	Tenant                string      `json:"tenant"`
	Account               string      `json:"account,omitempty"`
	From                  string      `json:"from"`
	To                    string      `json:"to"`
	Timezone              string      `json:"timezone"`
	ConversionProbability float64     `json:"conversion_probability"`
	Paths                 int64       `json:"paths"`
	ConvertingPaths       int64       `json:"converting_paths"`
	DistinctPaths         int64       `json:"distinct_paths"`
	UntouchedLeads        int64       `json:"untouched_leads"`
	Conversions           int64       `json:"conversions"`
	RevenueMinor          int64       `json:"revenue_minor"`
	Rows                  []MarkovRow `json:"rows"`
}

// MarkovRow is one channel's credit.
type MarkovRow struct {
	Channel       string  `json:"channel"`
	RemovalEffect float64 `json:"removal_effect"`
	Share         float64 `json:"share"`
	Conversions   float64 `json:"conversions"`
	RevenueMinor  float64 `json:"revenue_minor"`
}

func (c *Console) handleMarkov(w http.ResponseWriter, r *http.Request) {
	c.serveReport(w, r, "markov", func(t *tenants.Tenant, id, account, format string) (reportRun, *reportError) {
		loc := zoneOf(t)
		q, rerr := markovQuery(r, id, account, loc, time.Now())
		if rerr != nil {
			return nil, rerr
		}
		return func(ctx context.Context) ([]byte, string, error) {
			rep, err := c.reports.Markov(ctx, q)
			if err != nil {
				return nil, "", err
			}
			return renderMarkov(q, loc, rep, format)
		}, nil
	})
}

// markovQuery reads from/to as RFC 3339 times or days (midnight in the
// tenant's zone), to excluded; the default is the last DefaultMarkovDays
// days up to the end of today.
func markovQuery(r *http.Request, id, account string, loc *time.Location, now time.Time) (analytics.MarkovQuery, *reportError) {
	q := analytics.MarkovQuery{Tenant: id, Account: account}
	today := now.In(loc)
	var rerr *reportError
	back := func(to time.Time) time.Time { return to.AddDate(0, 0, -DefaultMarkovDays) }
	if q.From, q.To, rerr = instantWindow(r, loc, time.Date(today.Year(), today.Month(), today.Day()+1, 0, 0, 0, 0, loc), back); rerr != nil {
		return q, rerr
	}
	if err := q.Validate(); err != nil {
		return q, badRequest("%s", err.Error())
	}
	return q, nil
}

func renderMarkov(q analytics.MarkovQuery, loc *time.Location, rep *analytics.MarkovReport, format string) ([]byte, string, error) {
	rows := make([]MarkovRow, 0, len(rep.Channels))
	for _, ch := range rep.Channels {
		rows = append(rows, MarkovRow{Channel: ch.Channel, RemovalEffect: round(ch.RemovalEffect, 6), Share: round(ch.Share, 6),
			Conversions: round(ch.Conversions, 4), RevenueMinor: round(ch.RevenueMinor, 2)})
	}
	if format == FormatCSV {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{"channel", "removal_effect", "share", "conversions", "revenue_minor"})
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
		for _, r := range rows {
			w.Write([]string{r.Channel, f(r.RemovalEffect), f(r.Share), f(r.Conversions), f(r.RevenueMinor)})
		}
		w.Flush()
		return buf.Bytes(), "text/csv; charset=utf-8", w.Error()
	}
	b, err := json.Marshal(MarkovAnswer{Tenant: q.Tenant, Account: q.Account, From: q.From.In(loc).Format(time.RFC3339),
		To: q.To.In(loc).Format(time.RFC3339), Timezone: loc.String(), ConversionProbability: round(rep.ConversionProbability, 9),
		Paths: rep.Paths, ConvertingPaths: rep.ConvertingPaths, DistinctPaths: rep.DistinctPaths, UntouchedLeads: rep.UntouchedLeads,
		Conversions: rep.Conversions, RevenueMinor: rep.RevenueMinor, Rows: rows})
	return b, "application/json", err
}
