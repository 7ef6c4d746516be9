// Package analytics is Throughline's analytics model over ClickHouse: the
// refresher that keeps the per-channel aggregates (traffic_daily,
// leads_daily, leads_hourly; migration 0006_analytics.sql) equal to what the
// latest versions of the stitcher's entities say, and the reports that read
// them — cost, traffic, leads, deals and revenue per day, channel,
// source/medium, campaign, account and attribution model, with the derived
// metrics (CPL, ROI, ROMI, …).
//
// Why the aggregates are recomputed per account rather than summed by a
// materialized view: docs/design/analytics-aggregates.md.
package analytics
