-- The loader's index of event ids: one row per event it inserted into
-- events, keyed by a hash of (tenant, account, event_id) within the raw
-- topic's partition. Before inserting a batch the loader looks its ids up
-- here, among the rows of earlier offsets of the same partition, and drops
-- an event whose id was accepted within the tenant's deduplication window
-- (docs/design/event-idempotency.md). Rows are written before the events
-- they describe; a row repeated by a crash changes no answer. The TTL keeps
-- the longest window allowed (30 days) plus a day.
CREATE TABLE IF NOT EXISTS ${db}.event_ids
(
    id_hash     UInt64,
    record_key  String,
    event_id    String,
    received_at DateTime64(3, 'UTC'),
    _topic      LowCardinality(String),
    _partition  UInt32,
    _offset     UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (_topic, _partition, id_hash)
TTL toDateTime(received_at) + INTERVAL 31 DAY;
