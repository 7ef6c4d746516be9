package aggregates

import "strings"

// Unattributed is the account of central spend that has no sessions of its
// campaign on its day to be allocated by.
const Unattributed = "(unattributed)"

// LeadFacts is the per-lead logic shared by the refresher (scope: some
// accounts, day in their zone) and the console's Scan (scope: the tenant): leads per
// model, day and touch channel, weighted by the touch's weight. Per lead:
// unique when it is its person's first lead, target when the CRM made at
// least one deal of it, a new customer when it holds its person's first won
// deal. The lead's revenue is split by the same weights, and so is its
// count by kind (leads_call, leads_form, leads_chat, leads_crm; see
// analytics.LeadKinds).
func LeadFacts(scope, dayExpr string) string {
	return strings.NewReplacer("$scope", scope, "$day", dayExpr).Replace(`WITH
    l AS
    (
        SELECT account, lead_id, person_id, ts, kind, deals, won_deals, revenue_minor
        FROM ${db}.leads FINAL
        WHERE $scope
    ),
    firsts AS
    (
        SELECT account, argMin(lead_id, (ts, lead_id)) AS first_lead
        FROM l GROUP BY account, person_id
    ),
    sold AS
    (
        SELECT account, lead_id, sum(units) AS units
        FROM ${db}.deals FINAL
        WHERE $scope AND outcome = 'won' AND lead_id != ''
        GROUP BY account, lead_id
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
        SELECT l.account AS account, l.lead_id AS lead_id, ts, kind, deals, won_deals, revenue_minor, s.units AS units,
               lead_id IN (SELECT first_lead FROM firsts) AS is_unique,
               lead_id IN (SELECT buyer_lead FROM buyers) AS is_new_customer
        FROM l LEFT JOIN sold AS s ON s.account = l.account AND s.lead_id = l.lead_id
    )
SELECT a.model AS model, $day AS day, a.account AS account,
       a.channel AS channel, a.source AS source, a.medium AS medium, a.campaign AS campaign,
       sum(a.weight) AS leads,
       sum(a.weight * (f.kind = 'call')) AS leads_call,
       sum(a.weight * (f.kind NOT IN ('call', 'chat', 'crm'))) AS leads_form,
       sum(a.weight * (f.kind = 'chat')) AS leads_chat,
       sum(a.weight * (f.kind = 'crm')) AS leads_crm,
       sum(a.weight * (f.deals > 0)) AS target_leads,
       sum(a.weight * f.is_unique) AS unique_leads,
       sum(a.weight * f.deals) AS deals,
       sum(a.weight * f.won_deals) AS won_deals,
       sum(a.weight * f.revenue_minor) AS revenue_minor,
       sum(a.weight * f.units) AS units,
       sum(a.weight * f.is_new_customer) AS new_customers
FROM (SELECT * FROM ${db}.attribution FINAL WHERE $scope) AS a
INNER JOIN flagged AS f ON f.account = a.account AND f.lead_id = a.lead_id
GROUP BY model, day, account, channel, source, medium, campaign`)
}

// Allocation is spend as reports count it, from cost rows (day, account,
// central, channel, source, medium, campaign, campaign_id, cost_minor,
// clicks, impressions) and traffic rows (day, account, channel, source,
// medium, campaign, sessions). Own spend (bought by an account) stays where
// it was bought. Central spend (account '*') is split between the accounts
// in proportion to their sessions of its channel and campaign on its day —
// the campaign matched by name, or by the cost row's campaign id when no
// session that day carries the name — and what has no such sessions stays
// whole under the account '(unattributed)'. The refresher writes it to
// spend_daily; the console's Scan computes it on the fly.
func Allocation(traffic, costs string) string {
	return strings.NewReplacer("$traffic", traffic, "$costs", costs).Replace(`WITH
    costs AS
    (
        $costs
    ),
    central AS
    (
        SELECT day, channel, source, medium, campaign, campaign_id, cost_minor, clicks, impressions
        FROM costs
        WHERE central
    ),
    campaign_sessions AS
    (
        SELECT day, channel, campaign, account, sum(sessions) AS sessions
        FROM ($traffic)
        WHERE (day, channel, campaign) IN (SELECT day, channel, campaign FROM central)
           OR (day, channel, campaign) IN (SELECT day, channel, campaign_id FROM central WHERE campaign_id != '')
        GROUP BY day, channel, campaign, account
    ),
    shares AS
    (
        SELECT s.day AS day, s.channel AS channel, s.campaign AS campaign, s.account AS account, s.sessions / t.total AS share
        FROM campaign_sessions AS s
        INNER JOIN
        (
            SELECT day, channel, campaign, sum(sessions) AS total FROM campaign_sessions GROUP BY day, channel, campaign
        ) AS t ON t.day = s.day AND t.channel = s.channel AND t.campaign = s.campaign
    ),
    matched AS
    (
        SELECT *,
               if(campaign_id != '' AND (day, channel, campaign) NOT IN (SELECT day, channel, campaign FROM campaign_sessions),
                  campaign_id, campaign) AS match
        FROM central
    )
SELECT day, account, central, channel, source, medium, campaign, campaign_id,
       toFloat64(cost_minor) AS cost_minor, toFloat64(clicks) AS clicks, toFloat64(impressions) AS impressions
FROM costs
WHERE NOT central
UNION ALL
SELECT c.day, if(s.account = '', '` + Unattributed + `', s.account), true, c.channel, c.source, c.medium, c.campaign, c.campaign_id,
       c.cost_minor * if(s.account = '', 1, s.share), c.clicks * if(s.account = '', 1, s.share),
       c.impressions * if(s.account = '', 1, s.share)
FROM matched AS c
LEFT JOIN shares AS s ON s.day = c.day AND s.channel = c.channel AND s.campaign = c.match`)
}
