package analytics

import (
	"strings"
)

// measureCols are the sums a report selects after its dimensions, in the
// order Report reads them.
var measureCols = []string{"cost_minor", "clicks", "impressions", "sessions", "leads", "target_leads",
	"unique_leads", "deals", "won_deals", "revenue_minor", "new_customers"}

// leadFactsSQL is the per-lead logic shared by the refresher (scope: some
// accounts, day in their zone) and Scan (scope: the tenant): leads per
// model, day and touch channel, weighted by the touch's weight. Per lead:
// unique when it is its person's first lead, target when the CRM made at
// least one deal of it, a new customer when it holds its person's first won
// deal. The lead's revenue is split by the same weights.
func leadFactsSQL(scope, dayExpr string) string {
	return strings.NewReplacer("$scope", scope, "$day", dayExpr).Replace(`WITH
    l AS
    (
        SELECT account, lead_id, person_id, ts, deals, won_deals, revenue_minor
        FROM ${db}.leads FINAL
        WHERE $scope
    ),
    firsts AS
    (
        SELECT account, argMin(lead_id, (ts, lead_id)) AS first_lead
        FROM l GROUP BY account, person_id
    ),
    buyers AS
    (
        SELECT account, argMin(lead_id, (won_at, deal_id)) AS buyer_lead
        FROM ${db}.deals FINAL
        WHERE $scope AND outcome = 'won' AND lead_id != ''
        GROUP BY account, person_id
    ),
    flagged AS
    (
        SELECT account, lead_id, ts, deals, won_deals, revenue_minor,
               lead_id IN (SELECT first_lead FROM firsts) AS is_unique,
               lead_id IN (SELECT buyer_lead FROM buyers) AS is_new_customer
        FROM l
    )
SELECT a.model AS model, $day AS day, a.account AS account,
       a.channel AS channel, a.source AS source, a.medium AS medium, a.campaign AS campaign,
       sum(a.weight) AS leads,
       sum(a.weight * (f.deals > 0)) AS target_leads,
       sum(a.weight * f.is_unique) AS unique_leads,
       sum(a.weight * f.deals) AS deals,
       sum(a.weight * f.won_deals) AS won_deals,
       sum(a.weight * f.revenue_minor) AS revenue_minor,
       sum(a.weight * f.is_new_customer) AS new_customers
FROM (SELECT * FROM ${db}.attribution FINAL WHERE $scope) AS a
INNER JOIN flagged AS f ON f.account = a.account AND f.lead_id = a.lead_id
GROUP BY model, day, account, channel, source, medium, campaign`)
}

// The traffic and lead sources of a report: from the aggregates, or (Scan)
// from the entity tables.
const (
	aggregateTraffic = `SELECT day, account, channel, source, medium, campaign, sessions
        FROM ${db}.traffic_daily FINAL
        WHERE tenant = {tenant:String} AND day BETWEEN {from:Date} AND {to:Date}`

	aggregateLeads = `SELECT day, account, channel, source, medium, campaign, leads, target_leads, unique_leads,
               deals, won_deals, revenue_minor, new_customers
        FROM ${db}.leads_daily FINAL
        WHERE tenant = {tenant:String} AND model = {model:String} AND day BETWEEN {from:Date} AND {to:Date}`

	scanTraffic = `SELECT * FROM (
            SELECT $day AS day, account, channel, source, medium, campaign, count() AS sessions
            FROM ${db}.sessions FINAL
            WHERE tenant = {tenant:String}
            GROUP BY day, account, channel, source, medium, campaign)
        WHERE day BETWEEN {from:Date} AND {to:Date}`
)

// reportSQL sums costs, traffic and leads by the dimensions. Own spend
// (bought by an account) counts where it was bought; central spend
// (account '*') is split between the accounts in proportion to their
// sessions of its campaign on its day (matched by channel and campaign name
// or id), and what has no such sessions stays whole under the account
// '(unattributed)'. Every measure is a Float64 so the union lines up.
func reportSQL(by []Dim, traffic, leads string) string {
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
	return strings.NewReplacer("$traffic", traffic, "$leads", leads, "$select", sel, "$group", group).Replace(`WITH
    traffic AS
    (
        $traffic
    ),
    central AS
    (
        SELECT date AS day, channel, source, medium, campaign, campaign_id,
               sum(amount_minor) AS cost_minor, sum(clicks) AS clicks, sum(impressions) AS impressions
        FROM ${db}.costs_current
        WHERE tenant = {tenant:String} AND central AND date BETWEEN {from:Date} AND {to:Date}
        GROUP BY day, channel, source, medium, campaign, campaign_id
    ),
    matched AS
    (
        SELECT c.day AS day, c.channel AS channel, c.source AS source, c.medium AS medium, c.campaign AS campaign,
               c.campaign_id AS campaign_id, t.account AS account, sum(t.sessions) AS sessions
        FROM central AS c
        INNER JOIN traffic AS t ON t.day = c.day AND t.channel = c.channel
        WHERE t.campaign = c.campaign OR (c.campaign_id != '' AND t.campaign = c.campaign_id)
        GROUP BY day, channel, source, medium, campaign, campaign_id, account
    ),
    shares AS
    (
        SELECT day, channel, source, medium, campaign, campaign_id, account,
               sessions / sum(sessions) OVER (PARTITION BY day, channel, source, medium, campaign, campaign_id) AS share
        FROM matched
    ),
    allocated AS
    (
        SELECT c.day AS day, if(s.account = '', '` + Unattributed + `', s.account) AS account,
               c.channel AS channel, c.source AS source, c.medium AS medium, c.campaign AS campaign,
               if(s.account = '', 1, s.share) AS share,
               c.cost_minor * share AS cost_minor, c.clicks * share AS clicks, c.impressions * share AS impressions
        FROM central AS c
        LEFT JOIN shares AS s ON s.day = c.day AND s.channel = c.channel AND s.source = c.source AND s.medium = c.medium
            AND s.campaign = c.campaign AND s.campaign_id = c.campaign_id
    ),
    facts AS
    (
        SELECT day, account, channel, source, medium, campaign,
               0. AS cost_minor, 0. AS clicks, 0. AS impressions, toFloat64(sessions) AS sessions,
               0. AS leads, 0. AS target_leads, 0. AS unique_leads, 0. AS deals, 0. AS won_deals, 0. AS revenue_minor, 0. AS new_customers
        FROM traffic
        UNION ALL
        SELECT day, account, channel, source, medium, campaign, 0., 0., 0., 0.,
               leads, target_leads, unique_leads, deals, won_deals, revenue_minor, new_customers
        FROM
        (
            $leads
        )
        UNION ALL
        SELECT date, account, channel, source, medium, campaign,
               toFloat64(amount_minor), toFloat64(clicks), toFloat64(impressions), 0., 0., 0., 0., 0., 0., 0., 0.
        FROM ${db}.costs_current
        WHERE tenant = {tenant:String} AND NOT central AND date BETWEEN {from:Date} AND {to:Date}
        UNION ALL
        SELECT day, account, channel, source, medium, campaign, cost_minor, clicks, impressions, 0., 0., 0., 0., 0., 0., 0., 0.
        FROM allocated
    )
SELECT $select
FROM facts
WHERE {account:String} = '' OR account = {account:String}$group`)
}
