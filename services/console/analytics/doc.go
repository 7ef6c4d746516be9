// Package analytics is the console's read side of Throughline's analytics
// over ClickHouse: the reports that read the per-channel aggregates
// (traffic_daily, leads_daily, leads_hourly, spend_daily) — cost, traffic,
// leads, deals and revenue per day, channel, source/medium, campaign,
// account and attribution model, with the derived metrics (CPL, ROI, ROMI,
// …) — the live lead flow and the Markov attribution. It writes nothing:
// the aggregates are kept by the refresher service with the rounds and SQL
// of pkg/aggregates, whose SQL Scan reuses to compute a report straight
// from the entity tables.
//
// Why the aggregates are recomputed per account rather than summed by a
// materialized view: docs/design/analytics-aggregates.md.
package analytics
