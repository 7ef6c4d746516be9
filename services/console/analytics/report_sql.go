package analytics

import (
	"strings"
)

// measureCols are the sums a report selects after its dimensions, in the
// order Report reads them.
var measureCols = []string{"cost_minor", "clicks", "impressions", "sessions", "leads",
	"leads_call", "leads_form", "leads_chat", "leads_crm", "target_leads",
	"unique_leads", "deals", "won_deals", "revenue_minor", "units", "new_customers"}

// LeadKinds are the kinds a report counts leads by, as the stitcher names
// them (a lead's kind is its first contact's). A lead of any other kind
// counts as a form, so the kinds always sum to the leads.
var LeadKinds = []string{"call", "form", "chat", "crm"}

// The sources of a report: from the aggregates, or (Scan) from the entity
// and cost tables.
const (
	aggregateTraffic = `SELECT day, account, channel, source, medium, campaign, sessions
        FROM ${db}.traffic_daily FINAL
        WHERE tenant = {tenant:String} AND day BETWEEN {from:Date} AND {to:Date}`

	aggregateLeads = `SELECT day, account, channel, source, medium, campaign, leads,
               leads_call, leads_form, leads_chat, leads_crm, target_leads, unique_leads,
               deals, won_deals, revenue_minor, units, new_customers
        FROM ${db}.leads_daily FINAL
        WHERE tenant = {tenant:String} AND model = {model:String} AND day BETWEEN {from:Date} AND {to:Date}`

	aggregateSpend = `SELECT day, account, channel, source, medium, campaign, cost_minor, clicks, impressions
        FROM ${db}.spend_daily FINAL
        WHERE tenant = {tenant:String} AND day BETWEEN {from:Date} AND {to:Date}`

	scanTraffic = `SELECT * FROM (
            SELECT $day AS day, account, channel, source, medium, campaign, count() AS sessions
            FROM ${db}.sessions FINAL
            WHERE tenant = {tenant:String}
            GROUP BY day, account, channel, source, medium, campaign)
        WHERE day BETWEEN {from:Date} AND {to:Date}`

	scanCosts = `SELECT date AS day, account, central, channel, source, medium, campaign, campaign_id,
               amount_minor AS cost_minor, clicks, impressions
        FROM ${db}.costs_current
        WHERE tenant = {tenant:String} AND date BETWEEN {from:Date} AND {to:Date}`
)

// reportSQL sums spend (allocated), traffic and leads by the dimensions.
// Every measure is a Float64 so the union lines up.
func reportSQL(by []Dim, traffic, leads, spend string) string {
	dims := make([]string, len(by))
	for i, d := range by {
		if d == DimDay {
			dims[i] = "toString(day)"
		} else {
			dims[i] = string(d)
		}
	}
	sums := make([]string, len(measureCols))
	for i, m := range measureCols {
		sums[i] = "sum(" + m + ")"
	}
	sel := strings.Join(append(dims, sums...), ", ")
	group := ""
	if len(dims) > 0 {
		group = "\nGROUP BY " + strings.Join(dims, ", ") + "\nORDER BY " + strings.Join(dims, ", ")
	}
	return strings.NewReplacer("$traffic", traffic, "$leads", leads, "$spend", spend, "$select", sel, "$group", group).Replace(`SELECT $select
FROM
(
    SELECT day, account, channel, source, medium, campaign,
           0. AS cost_minor, 0. AS clicks, 0. AS impressions, toFloat64(sessions) AS sessions,
           0. AS leads, 0. AS leads_call, 0. AS leads_form, 0. AS leads_chat, 0. AS leads_crm, 0. AS target_leads, 0. AS unique_leads, 0. AS deals, 0. AS won_deals, 0. AS revenue_minor, 0. AS units, 0. AS new_customers
    FROM ($traffic)
    UNION ALL
    SELECT day, account, channel, source, medium, campaign, 0., 0., 0., 0.,
           leads, leads_call, leads_form, leads_chat, leads_crm, target_leads, unique_leads, deals, won_deals, revenue_minor, units, new_customers
    FROM ($leads)
    UNION ALL
    SELECT day, account, channel, source, medium, campaign, cost_minor, clicks, impressions,
           0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.
    FROM ($spend)
)
WHERE {account:String} = '' OR account = {account:String}$group`)
}
