-- The alerter's incidents, from the topic throughline.alerts.v1
-- (docs/alerts.md). Each record is one version of one incident: version 1
-- when it fires, version 2 when it resolves (the later version carries the
-- whole incident: fired_at and resolved_at). The newest version wins
-- (ReplacingMergeTree(version)); read with FINAL, `LIMIT 1 BY id` after
-- ordering by version, or the alerts_latest view. resolved_at is
-- 1970-01-01 while an incident fires. Columns carry the names of the
-- alerter's JSON (GET /v1/alerts, the generic webhook's "alert").
CREATE TABLE IF NOT EXISTS ${db}.alerts
(
    tenant      LowCardinality(String),
    account     LowCardinality(String),
    id          String,
    version     UInt64,
    rule        LowCardinality(String),
    kind        LowCardinality(String),
    severity    LowCardinality(String),
    subject     String,
    status      LowCardinality(String),
    title       String,
    summary     String,
    value       Float64,
    threshold   Float64,
    labels      Map(String, String),
    fired_at    DateTime64(3, 'UTC'),
    resolved_at DateTime64(3, 'UTC'),
    recorded_at DateTime64(3, 'UTC'),
    _topic      LowCardinality(String),
    _partition  UInt32,
    _offset     UInt64,
    _loaded_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(fired_at)
ORDER BY (tenant, id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE VIEW IF NOT EXISTS ${db}.alerts_latest AS SELECT * FROM ${db}.alerts FINAL;
