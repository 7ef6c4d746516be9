-- Input that was authenticated but could not be accepted, with the reason and
-- the raw payload, for data teams to inspect and for re-driving after a fix.
CREATE TABLE IF NOT EXISTS ${db}.dead_letters
(
    tenant      LowCardinality(String),
    account     LowCardinality(String),
    source      LowCardinality(String),
    reason      String,
    received_at DateTime64(3, 'UTC'),
    payload     String,
    _topic      LowCardinality(String),
    _partition  UInt32,
    _offset     UInt64,
    _loaded_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (tenant, source, received_at)
SETTINGS non_replicated_deduplication_window = 10000;
