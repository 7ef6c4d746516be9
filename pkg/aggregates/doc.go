// Package aggregates is the report aggregates' model: the SQL that derives
// traffic_daily, leads_daily, leads_hourly and spend_daily (migrations
// 0006_analytics.sql, 0008_spend.sql) from the latest versions of the
// entity tables (LeadFacts, Allocation), and the Refresher whose rounds keep
// them equal to it, account by account, from the change log.
//
// It lives in pkg because two services meet at it: the refresher service
// (services/refresher) writes the aggregates with these rounds, and the
// console reads them — and computes the same report straight from the
// entity tables with the same SQL (analytics.Reports.Scan), which is how the
// aggregates are proven right. Design: docs/design/analytics-aggregates.md
// and docs/design/refresher.md.
package aggregates
