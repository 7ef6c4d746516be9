package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/pkg/contract/model"
)

// Models are the attribution models, as the stitcher names them.
var Models = model.Names()

// DefaultModel is the model of a report that names none.
const DefaultModel = model.Default

// Dim is a dimension a report groups by.
type Dim string

// Dimensions.
const (
	DimDay      Dim = "day"
	DimAccount  Dim = "account"
	DimChannel  Dim = "channel"
	DimSource   Dim = "source"
	DimMedium   Dim = "medium"
	DimCampaign Dim = "campaign"
)

// Dims lists every dimension, in the order reports put them.
var Dims = []Dim{DimDay, DimAccount, DimChannel, DimSource, DimMedium, DimCampaign}

// Unattributed is the account of central spend that has no sessions of its
// campaign on its day to be allocated by.
const Unattributed = aggregates.Unattributed

// MaxDays is the longest report range.
const MaxDays = 1100

// Query selects a report.
type Query struct {
	Tenant string
	// Account, when set, keeps only that account's rows (its own spend and
	// its share of central spend).
	Account string
	// From and To are days (in the accounts' time zones), both included.
	From, To time.Time
	Model    string
	By       []Dim
	// Margin is the tenant's gross margin for ROMI; 0 leaves ROMI empty.
	Margin float64
	// Currency names the money unit; its minor-unit digits convert amounts.
	Currency string
}

// Validate names the parameter that is wrong.
func (q Query) Validate() error {
	var errs []error
	if q.Tenant == "" {
		errs = append(errs, errors.New("tenant: required"))
	}
	if q.From.IsZero() || q.To.IsZero() {
		errs = append(errs, errors.New("from, to: required (YYYY-MM-DD)"))
	} else if q.To.Before(q.From) {
		errs = append(errs, fmt.Errorf("to: %s is before from %s", day(q.To), day(q.From)))
	} else if q.To.Sub(q.From) > MaxDays*24*time.Hour {
		errs = append(errs, fmt.Errorf("from, to: at most %d days", MaxDays))
	}
	if !slices.Contains(Models, q.Model) {
		errs = append(errs, fmt.Errorf("model: %q is not one of %s", q.Model, strings.Join(Models, ", ")))
	}
	seen := map[Dim]bool{}
	for _, d := range q.By {
		if !slices.Contains(Dims, d) {
			errs = append(errs, fmt.Errorf("by: %q is not one of day, account, channel, source, medium, campaign", d))
		}
		if seen[d] {
			errs = append(errs, fmt.Errorf("by: %q given twice", d))
		}
		seen[d] = true
	}
	if q.Margin < 0 || q.Margin > 1 {
		errs = append(errs, fmt.Errorf("margin: %v is not between 0 and 1", q.Margin))
	}
	return errors.Join(errs...)
}

func day(t time.Time) string { return t.Format(time.DateOnly) }

// Measures are a report row's sums. Money is in major units of the currency;
// leads, deals and customers are weighted by attribution, so under a
// fractional model (linear, time_decay, position_based) they are fractions.
type Measures struct {
	Cost        float64 `json:"cost"`
	Clicks      float64 `json:"clicks"`
	Impressions float64 `json:"impressions"`
	Sessions    float64 `json:"sessions"`
	Leads       float64 `json:"leads"`
	// Leads by kind (LeadKinds): they sum to Leads.
	LeadsCall   float64 `json:"leads_call"`
	LeadsForm   float64 `json:"leads_form"`
	LeadsChat   float64 `json:"leads_chat"`
	LeadsCRM    float64 `json:"leads_crm"`
	TargetLeads float64 `json:"target_leads"`
	UniqueLeads float64 `json:"unique_leads"`
	Deals       float64 `json:"deals"`
	WonDeals    float64 `json:"won_deals"`
	Revenue     float64 `json:"revenue"`
	// Units are the units sold: the quantities of the leads' won deals.
	Units        float64 `json:"units"`
	NewCustomers float64 `json:"new_customers"`
}

func (m *Measures) add(o Measures) {
	m.Cost += o.Cost
	m.Clicks += o.Clicks
	m.Impressions += o.Impressions
	m.Sessions += o.Sessions
	m.Leads += o.Leads
	m.LeadsCall += o.LeadsCall
	m.LeadsForm += o.LeadsForm
	m.LeadsChat += o.LeadsChat
	m.LeadsCRM += o.LeadsCRM
	m.TargetLeads += o.TargetLeads
	m.UniqueLeads += o.UniqueLeads
	m.Deals += o.Deals
	m.WonDeals += o.WonDeals
	m.Revenue += o.Revenue
	m.Units += o.Units
	m.NewCustomers += o.NewCustomers
}

// Metrics are derived from Measures; nil where the divisor is zero.
type Metrics struct {
	CPC *float64 `json:"cpc"` // cost / clicks
	CPL *float64 `json:"cpl"` // cost / leads
	// The cost of a lead of one kind: the row's whole cost over its leads
	// of that kind (not a share of the cost), as a network that buys
	// traffic for calls and forms at once reads it.
	CPLCall *float64 `json:"cpl_call"` // cost / call leads
	CPLForm *float64 `json:"cpl_form"` // cost / form leads
	CPLChat *float64 `json:"cpl_chat"` // cost / chat leads
	CPLCRM  *float64 `json:"cpl_crm"`  // cost / CRM leads
	CPA     *float64 `json:"cpa"`      // cost / target leads
	CPS     *float64 `json:"cps"`      // cost / won deals
	CAC     *float64 `json:"cac"`      // cost / new customers
	CR      *float64 `json:"cr"`       // leads / sessions
	AOV     *float64 `json:"aov"`      // revenue / won deals
	// CostPerUnit is cost / units sold (what one windscreen sold cost in ads).
	CostPerUnit *float64 `json:"cost_per_unit"`
	ROI         *float64 `json:"roi"`  // (revenue − cost) / cost
	ROMI        *float64 `json:"romi"` // (revenue × margin − cost) / cost
}

// Derive computes the metrics of m. A zero divisor gives nil (an empty
// value), never an infinity; ROMI is nil when margin is 0 (not configured).
func Derive(m Measures, margin float64) Metrics {
	div := func(a, b float64) *float64 {
		if math.Abs(b) < 1e-9 {
			return nil
		}
		v := a / b
		return &v
	}
	out := Metrics{
		CPC: div(m.Cost, m.Clicks), CPL: div(m.Cost, m.Leads),
		CPLCall: div(m.Cost, m.LeadsCall), CPLForm: div(m.Cost, m.LeadsForm), CPLChat: div(m.Cost, m.LeadsChat), CPLCRM: div(m.Cost, m.LeadsCRM),
		CPA: div(m.Cost, m.TargetLeads),
		CPS: div(m.Cost, m.WonDeals), CAC: div(m.Cost, m.NewCustomers), CR: div(m.Leads, m.Sessions),
		AOV: div(m.Revenue, m.WonDeals), CostPerUnit: div(m.Cost, m.Units), ROI: div(m.Revenue-m.Cost, m.Cost),
	}
	if margin > 0 {
		out.ROMI = div(m.Revenue*margin-m.Cost, m.Cost)
	}
	return out
}

// Row is one group of a report: the values of the query's By dimensions
// (days as YYYY-MM-DD), its measures and metrics.
type Row struct {
	Keys []string
	Measures
	Metrics
}

// Report is a query's answer.
type Report struct {
	Query Query
	Rows  []Row
	// Total is the sum of every row (with its own metrics).
	Total Row
}

// Reports answers report queries from the aggregates.
type Reports struct {
	store chstore.Store
	db    string
	zones Zones
}

// NewReports reads from the database's aggregates. zones is used by Scan
// only (nil: UTC).
func NewReports(store chstore.Store, database string, zones Zones) *Reports {
	if zones == nil {
		zones = func(string, string) string { return "UTC" }
	}
	return &Reports{store: store, db: chstore.QuoteIdent(database), zones: zones}
}

// Report answers q from the aggregates and the current costs.
func (r *Reports) Report(ctx context.Context, q Query) (*Report, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return r.run(ctx, q, reportSQL(q.By, aggregateTraffic, aggregateLeads, aggregateSpend), chstore.Params{})
}

// Scan answers q like Report but computes traffic and leads from the
// entity tables (FINAL) and spend from costs_current instead of the
// aggregates: the same numbers, read the slow way. Tests and the benchmark
// compare the two.
func (r *Reports) Scan(ctx context.Context, q Query) (*Report, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	p := chstore.Params{}
	sessionDay, err := r.dayExpr(ctx, q.Tenant, "started_at", p)
	if err != nil {
		return nil, err
	}
	leadDay, err := r.dayExpr(ctx, q.Tenant, "f.ts", p)
	if err != nil {
		return nil, err
	}
	traffic := strings.ReplaceAll(scanTraffic, "$day", sessionDay)
	leads := "SELECT * FROM (" + aggregates.LeadFacts("tenant = {tenant:String}", leadDay) + ") WHERE model = {model:String} AND day BETWEEN {from:Date} AND {to:Date}"
	return r.run(ctx, q, reportSQL(q.By, traffic, leads, aggregates.Allocation(traffic, scanCosts)), p)
}

// dayExpr is the day of col in each account's time zone: one toDate per
// zone, the zones' accounts bound as parameters.
func (r *Reports) dayExpr(ctx context.Context, tenant, col string, p chstore.Params) (string, error) {
	res, err := r.store.Query(ctx, strings.ReplaceAll(`SELECT DISTINCT account FROM (
    SELECT account FROM ${db}.sessions WHERE tenant = {tenant:String} GROUP BY account
    UNION ALL SELECT account FROM ${db}.leads WHERE tenant = {tenant:String} GROUP BY account) ORDER BY account`, "${db}", r.db),
		chstore.Params{"tenant": tenant})
	if err != nil {
		return "", fmt.Errorf("listing accounts of %s: %w", tenant, err)
	}
	byZone := map[string][]string{}
	var zones []string
	for _, row := range res.Rows {
		a := toString(row[0])
		z := r.zones(tenant, a)
		if z == "" {
			z = "UTC"
		}
		if byZone[z] == nil {
			zones = append(zones, z)
		}
		byZone[z] = append(byZone[z], a)
	}
	if len(zones) == 0 {
		zones, byZone = []string{"UTC"}, map[string][]string{"UTC": nil}
	}
	n := len(p) // parameter names unique across calls
	if len(zones) == 1 {
		zn := fmt.Sprintf("zone%d", n)
		p[zn] = zones[0]
		return fmt.Sprintf("toDate(%s, {%s:String})", col, zn), nil
	}
	expr := "multiIf("
	for i, z := range zones[:len(zones)-1] {
		zn, an := fmt.Sprintf("zone%d", n+i), fmt.Sprintf("zaccounts%d", n+i)
		p[zn], p[an] = z, arrayParam(byZone[z])
		expr += fmt.Sprintf("%s IN {%s:Array(String)}, toDate(%s, {%s:String}), ", accountCol(col), an, col, zn)
	}
	last := fmt.Sprintf("zone%d", n+len(zones)-1)
	p[last] = zones[len(zones)-1]
	expr += fmt.Sprintf("toDate(%s, {%s:String}))", col, last)
	return expr, nil
}

func accountCol(col string) string {
	if i := strings.IndexByte(col, '.'); i >= 0 {
		return col[:i+1] + "account"
	}
	return "account"
}

func (r *Reports) run(ctx context.Context, q Query, sql string, p chstore.Params) (*Report, error) {
	p["tenant"] = q.Tenant
	p["account"] = q.Account
	p["from"] = day(q.From)
	p["to"] = day(q.To)
	p["model"] = q.Model
	res, err := r.store.Query(ctx, strings.ReplaceAll(sql, "${db}", r.db), p)
	if err != nil {
		return nil, fmt.Errorf("running report: %w", err)
	}
	unit := math.Pow10(MinorDigits(q.Currency))
	rep := &Report{Query: q, Rows: make([]Row, 0, len(res.Rows))}
	nd := len(q.By)
	for _, rec := range res.Rows {
		if len(rec) != nd+len(measureCols) {
			return nil, fmt.Errorf("running report: %d columns, want %d", len(rec), nd+len(measureCols))
		}
		row := Row{Keys: make([]string, nd)}
		for i := range nd {
			row.Keys[i] = toString(rec[i])
		}
		v := rec[nd:]
		row.Measures = Measures{
			Cost: toFloat(v[0]) / unit, Clicks: toFloat(v[1]), Impressions: toFloat(v[2]), Sessions: toFloat(v[3]),
			Leads: toFloat(v[4]), LeadsCall: toFloat(v[5]), LeadsForm: toFloat(v[6]), LeadsChat: toFloat(v[7]), LeadsCRM: toFloat(v[8]),
			TargetLeads: toFloat(v[9]), UniqueLeads: toFloat(v[10]), Deals: toFloat(v[11]),
			WonDeals: toFloat(v[12]), Revenue: toFloat(v[13]) / unit, Units: toFloat(v[14]), NewCustomers: toFloat(v[15]),
		}
		row.Metrics = Derive(row.Measures, q.Margin)
		rep.Total.Measures.add(row.Measures)
		rep.Rows = append(rep.Rows, row)
	}
	rep.Total.Metrics = Derive(rep.Total.Measures, q.Margin)
	return rep, nil
}

// MinorDigits is how many digits a currency's minor unit has (ISO 4217).
func MinorDigits(currency string) int {
	switch strings.ToUpper(currency) {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// Zones tells the time zone an account's days are cut in (IANA name), as
// the refresher that wrote the aggregates cut them.
type Zones = aggregates.Zones
