-- Spend per day as the reports count it: costs_current (the latest
-- complete import of each day; docs/costs.md) per day, account, channel,
-- source/medium and campaign, with central spend (central = 1) already
-- split between the branches by their share of the campaign's sessions
-- that day (traffic_daily), and what has no sessions to follow under the
-- account '(unattributed)'. Kept by the console's refresher like the other
-- aggregates of 0006_analytics.sql: recomputed for a tenant when its costs
-- or its sessions change (an upload leaves a row in analytics_changes).
-- Amounts are fractions of minor units where central spend was split.
CREATE TABLE IF NOT EXISTS ${db}.spend_daily
(
    tenant      LowCardinality(String),
    day         Date,
    account     LowCardinality(String),
    central     Bool,
    channel     LowCardinality(String),
    source      String,
    medium      String,
    campaign    String,
    campaign_id String,
    cost_minor  Float64,
    clicks      Float64,
    impressions Float64,
    version     UInt64,
    deleted     UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, account, central, channel, source, medium, campaign, campaign_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.analytics_changes_costs TO ${db}.analytics_changes AS
SELECT now64(3) AS changed_at, tenant, account, 'costs' AS source, min(_partition) AS partition,
       min(_offset) AS first_offset, max(_offset) AS last_offset, count() AS rows
FROM ${db}.costs GROUP BY tenant, account;
