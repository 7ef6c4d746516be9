-- The analytics model: per-channel aggregates that reports read instead of
-- the entity tables, and the change log that keeps them up to date.
-- docs/design/analytics-aggregates.md explains the design, docs/analytics.md
-- documents every column.
--
-- The entity tables hold every version of every entity (latest wins), so a
-- materialized view that summed inserted rows would count a session once per
-- version. Instead, every insert into an entity table leaves a row in
-- analytics_changes naming the account it touched, and the console's
-- refresher recomputes that account's aggregates from the latest versions
-- (FINAL) and writes them with a higher version: the aggregates are
-- ReplacingMergeTree(version, deleted) too, each key holding the value of
-- the latest recomputation, and a key that no longer has data gets a
-- deleted row. Read them with FINAL.

-- One row per insert block and account into an entity table: which account
-- changed, when, and which records (Kafka coordinates) it was.
CREATE TABLE IF NOT EXISTS ${db}.analytics_changes
(
    changed_at   DateTime64(3, 'UTC'),
    tenant       LowCardinality(String),
    account      LowCardinality(String),
    source       LowCardinality(String),
    partition    UInt32,
    first_offset UInt64,
    last_offset  UInt64,
    rows         UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(changed_at)
ORDER BY (changed_at, tenant, account)
TTL toDateTime(changed_at) + INTERVAL 7 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.analytics_changes_sessions TO ${db}.analytics_changes AS
SELECT now64(3) AS changed_at, tenant, account, 'sessions' AS source, min(_partition) AS partition,
       min(_offset) AS first_offset, max(_offset) AS last_offset, count() AS rows
FROM ${db}.sessions GROUP BY tenant, account;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.analytics_changes_leads TO ${db}.analytics_changes AS
SELECT now64(3) AS changed_at, tenant, account, 'leads' AS source, min(_partition) AS partition,
       min(_offset) AS first_offset, max(_offset) AS last_offset, count() AS rows
FROM ${db}.leads GROUP BY tenant, account;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.analytics_changes_deals TO ${db}.analytics_changes AS
SELECT now64(3) AS changed_at, tenant, account, 'deals' AS source, min(_partition) AS partition,
       min(_offset) AS first_offset, max(_offset) AS last_offset, count() AS rows
FROM ${db}.deals GROUP BY tenant, account;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.analytics_changes_attribution TO ${db}.analytics_changes AS
SELECT now64(3) AS changed_at, tenant, account, 'attribution' AS source, min(_partition) AS partition,
       min(_offset) AS first_offset, max(_offset) AS last_offset, count() AS rows
FROM ${db}.attribution GROUP BY tenant, account;

-- Sessions per day (in the account's time zone), account, channel,
-- source/medium and campaign.
CREATE TABLE IF NOT EXISTS ${db}.traffic_daily
(
    tenant   LowCardinality(String),
    day      Date,
    account  LowCardinality(String),
    channel  LowCardinality(String),
    source   String,
    medium   String,
    campaign String,
    sessions UInt64,
    version  UInt64,
    deleted  UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, day, account, channel, source, medium, campaign);

-- Leads, deals and revenue per attribution model, by the day of the lead
-- (the account's time zone) and the channel, source/medium and campaign of
-- the touch the model credits. Every measure is weighted by the touch's
-- weight, so under every model the sums over channels equal the totals of
-- the leads.
CREATE TABLE IF NOT EXISTS ${db}.leads_daily
(
    tenant        LowCardinality(String),
    model         LowCardinality(String),
    day           Date,
    account       LowCardinality(String),
    channel       LowCardinality(String),
    source        String,
    medium        String,
    campaign      String,
    leads         Float64,
    target_leads  Float64,
    unique_leads  Float64,
    deals         Float64,
    won_deals     Float64,
    revenue_minor Float64,
    new_customers Float64,
    version       UInt64,
    deleted       UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
PARTITION BY toYYYYMM(day)
ORDER BY (tenant, model, day, account, channel, source, medium, campaign);

-- Leads per hour (the start of the hour in the account's time zone, stored
-- as an instant) by the lead's channel (last_non_direct) and kind: the live
-- lead flow.
CREATE TABLE IF NOT EXISTS ${db}.leads_hourly
(
    tenant  LowCardinality(String),
    hour    DateTime('UTC'),
    account LowCardinality(String),
    channel LowCardinality(String),
    kind    LowCardinality(String),
    leads   UInt64,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant, hour, account, channel, kind);

-- The refresher's record: per account, the latest recomputation (its
-- version, the time zone its days were cut in, when); the row with an
-- empty tenant holds how far the change log has been read.
CREATE TABLE IF NOT EXISTS ${db}.analytics_refreshes
(
    tenant       LowCardinality(String),
    account      LowCardinality(String),
    version      UInt64,
    timezone     String,
    refreshed_at DateTime64(3, 'UTC'),
    watermark    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, account);

-- Customers over time: one row per person with at least one won deal, with
-- the channel of the first touch of the person's first lead (first_click),
-- purchases and revenue.
CREATE VIEW IF NOT EXISTS ${db}.customers AS
SELECT d.tenant AS tenant, d.account AS account, d.person_id AS person_id,
       l.first_lead_at AS first_lead_at, l.leads AS leads,
       if(f.channel = '', '(none)', f.channel) AS first_channel,
       f.source AS first_source, f.medium AS first_medium, f.campaign AS first_campaign,
       d.purchases AS purchases, d.revenue_minor AS revenue_minor,
       d.first_purchase_at AS first_purchase_at, d.last_purchase_at AS last_purchase_at
FROM
(
    SELECT tenant, account, person_id, count() AS purchases, sum(revenue_minor) AS revenue_minor,
           min(won_at) AS first_purchase_at, max(won_at) AS last_purchase_at
    FROM ${db}.deals FINAL
    WHERE outcome = 'won'
    GROUP BY tenant, account, person_id
) AS d
LEFT JOIN
(
    SELECT tenant, account, person_id, min(ts) AS first_lead_at, count() AS leads,
           argMin(lead_id, (ts, lead_id)) AS first_lead_id
    FROM ${db}.leads FINAL
    GROUP BY tenant, account, person_id
) AS l ON l.tenant = d.tenant AND l.account = d.account AND l.person_id = d.person_id
LEFT JOIN
(
    SELECT tenant, account, lead_id, channel, source, medium, campaign
    FROM ${db}.attribution FINAL
    WHERE model = 'first_click' AND touch = 0
) AS f ON f.tenant = l.tenant AND f.account = l.account AND f.lead_id = l.first_lead_id;

-- Lifetime value and repeat purchases by the channel that first brought the
-- customer.
CREATE VIEW IF NOT EXISTS ${db}.customer_ltv AS
SELECT tenant, first_channel, customers, repeat_customers, repeat_customers / customers AS repeat_rate,
       purchases, revenue_minor, revenue_minor / customers AS ltv_minor
FROM
(
    SELECT tenant, first_channel, count() AS customers, countIf(n >= 2) AS repeat_customers,
           sum(n) AS purchases, sum(r) AS revenue_minor
    FROM (SELECT tenant, first_channel, purchases AS n, revenue_minor AS r FROM ${db}.customers)
    GROUP BY tenant, first_channel
);
