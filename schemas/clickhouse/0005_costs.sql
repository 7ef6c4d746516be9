-- Ad spend, one row per uploaded report row, from the topic
-- throughline.costs.v1 (docs/costs.md). Every upload is an import with an id;
-- the collector writes its rows, then one commit row per account holding the
-- number of rows the import has for that account. Rows are never updated or
-- deleted: a re-import of a day adds its rows under a new import id, and the
-- view costs_current shows, for every (tenant, account, date, channel), only
-- the rows of the latest complete import that covers it. So re-importing a
-- day restates it, rows missing from the re-import disappear, and an import
-- that was cut short (no commit, or fewer rows than its commit declares)
-- never counts. Older imports stay in the table for audit.
CREATE TABLE IF NOT EXISTS ${db}.costs
(
    tenant       LowCardinality(String),
    account      LowCardinality(String),
    date         Date,
    channel      LowCardinality(String),
    source       String,
    medium       String,
    campaign     String,
    campaign_id  String,
    amount_minor Int64,
    currency     LowCardinality(String),
    clicks       Int64,
    impressions  Int64,
    central      Bool,
    import_id    String,
    row_id       String,
    kind         LowCardinality(String),
    import_rows  UInt32,
    upload       LowCardinality(String),
    imported_at  DateTime64(3, 'UTC'),
    _topic       LowCardinality(String),
    _partition   UInt32,
    _offset      UInt64,
    _loaded_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(date)
ORDER BY (tenant, account, date, channel, import_id, row_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- The spend that counts: per (tenant, account, date, channel) the rows of the
-- latest complete import. An import is complete for an account when its
-- commit row is in and as many distinct rows as it declares; the latest is
-- the one with the greatest imported_at (then import_id).
CREATE VIEW IF NOT EXISTS ${db}.costs_current AS
WITH
    complete AS
    (
        SELECT c.tenant AS tenant, c.account AS account, c.import_id AS import_id, c.imported_at AS imported_at
        FROM
        (
            SELECT tenant, account, import_id, max(import_rows) AS declared, max(imported_at) AS imported_at
            FROM ${db}.costs
            WHERE kind = 'commit'
            GROUP BY tenant, account, import_id
        ) AS c
        INNER JOIN
        (
            SELECT tenant, account, import_id, uniqExact(row_id) AS loaded
            FROM ${db}.costs
            WHERE kind = 'row'
            GROUP BY tenant, account, import_id
        ) AS r ON c.tenant = r.tenant AND c.account = r.account AND c.import_id = r.import_id
        WHERE r.loaded = c.declared
    ),
    latest AS
    (
        SELECT s.tenant AS tenant, s.account AS account, s.date AS date, s.channel AS channel,
               argMax(s.import_id, (k.imported_at, s.import_id)) AS import_id
        FROM
        (
            SELECT DISTINCT tenant, account, date, channel, import_id
            FROM ${db}.costs
            WHERE kind = 'row'
        ) AS s
        INNER JOIN complete AS k ON s.tenant = k.tenant AND s.account = k.account AND s.import_id = k.import_id
        GROUP BY s.tenant, s.account, s.date, s.channel
    )
SELECT tenant, account, date, channel, source, medium, campaign, campaign_id, amount_minor, currency,
       clicks, impressions, central, import_id, imported_at
FROM ${db}.costs FINAL
WHERE kind = 'row'
  AND (tenant, account, date, channel, import_id) IN (SELECT tenant, account, date, channel, import_id FROM latest);

-- Daily spend per campaign, from costs_current: what reports join to sessions.
CREATE VIEW IF NOT EXISTS ${db}.costs_daily AS
SELECT tenant, account, date, channel, campaign, any(campaign_id) AS campaign_id, currency, central,
       sum(amount_minor) AS amount_minor, sum(clicks) AS clicks, sum(impressions) AS impressions
FROM ${db}.costs_current
GROUP BY tenant, account, date, channel, campaign, currency, central;
