-- Every accepted hit and event, one row per envelope on the raw topic.
-- Rows are written by the loader with a deduplication token per batch, so
-- the window below is what makes a retried batch insert nothing.
CREATE TABLE IF NOT EXISTS ${db}.events
(
    tenant       LowCardinality(String),
    account      LowCardinality(String),
    event_id     String,
    type         LowCardinality(String),
    name         String,
    source       LowCardinality(String),
    ts           DateTime64(3, 'UTC'),
    received_at  DateTime64(3, 'UTC'),
    client_id    String,
    url          String,
    referrer     String,
    utm_source   String,
    utm_medium   String,
    utm_campaign String,
    utm_content  String,
    utm_term     String,
    yclid        String,
    gclid        String,
    fbclid       String,
    vkclid       String,
    click_ids    Map(String, String),
    user_agent   String,
    ip           String,
    props        Map(String, String),
    _topic       LowCardinality(String),
    _partition   UInt32,
    _offset      UInt64,
    _loaded_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant, account, toDate(ts), client_id, ts)
SETTINGS non_replicated_deduplication_window = 10000;
