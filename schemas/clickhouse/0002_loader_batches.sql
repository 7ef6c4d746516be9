-- The loader's write-ahead record of batch boundaries. A batch's range is
-- written here before its rows are inserted; after a crash the loader re-forms
-- exactly these ranges, so their deduplication tokens match and a retry
-- inserts nothing twice.
CREATE TABLE IF NOT EXISTS ${db}.loader_batches
(
    consumer     LowCardinality(String),
    topic        LowCardinality(String),
    partition    UInt32,
    first_offset UInt64,
    last_offset  UInt64,
    rows         UInt32,
    created_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (consumer, topic, partition, first_offset)
TTL toDateTime(created_at) + INTERVAL 30 DAY;
