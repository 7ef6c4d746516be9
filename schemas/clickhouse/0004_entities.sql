-- The stitcher's entities: sessions, calls, leads, deals and attribution rows.
-- Each topic record is one version of one entity; the newest version wins
-- (ReplacingMergeTree(version, deleted)), and a record with deleted = 1
-- supersedes an entity that a re-statement removed (a session re-cut by a
-- late hit, a lead folded into another, an attribution touch that is gone).
-- Read with FINAL (or the *_latest views) to see only the latest versions.
-- Tables are not partitioned by time: a later version must land in the same
-- partition as the one it replaces, and an entity's times can change.
CREATE TABLE IF NOT EXISTS ${db}.sessions
(
    tenant         LowCardinality(String),
    account        LowCardinality(String),
    session_id     String,
    version        UInt64,
    deleted        UInt8,
    client_id      String,
    person_id      String,
    started_at     DateTime64(3, 'UTC'),
    ended_at       DateTime64(3, 'UTC'),
    duration_ms    Int64,
    hits           UInt32,
    channel        LowCardinality(String),
    source         String,
    medium         String,
    campaign       String,
    content        String,
    term           String,
    click_param    LowCardinality(String),
    click_id       String,
    landing_page   String,
    referrer       String,
    first_event_id String,
    _topic         LowCardinality(String),
    _partition     UInt32,
    _offset        UInt64,
    _loaded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, account, session_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS ${db}.calls
(
    tenant          LowCardinality(String),
    account         LowCardinality(String),
    call_id         String,
    version         UInt64,
    deleted         UInt8,
    provider        LowCardinality(String),
    vendor_call_id  String,
    person_id       String,
    ts              DateTime64(3, 'UTC'),
    caller_phone    String,
    tracking_number String,
    answered        Bool,
    talk_sec        UInt32,
    wait_sec        UInt32,
    is_target       Bool,
    is_unique       Bool,
    session_id      String,
    channel         LowCardinality(String),
    is_static       Bool,
    lead_id         String,
    recording_url   String,
    event_id        String,
    _topic          LowCardinality(String),
    _partition      UInt32,
    _offset         UInt64,
    _loaded_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, account, call_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS ${db}.leads
(
    tenant          LowCardinality(String),
    account         LowCardinality(String),
    lead_id         String,
    version         UInt64,
    deleted         UInt8,
    person_id       String,
    ts              DateTime64(3, 'UTC'),
    kind            LowCardinality(String),
    first_event_id  String,
    contacts        UInt32,
    last_contact_at DateTime64(3, 'UTC'),
    client_id       String,
    call_id         String,
    crm_lead_id     String,
    channel         LowCardinality(String),
    source          String,
    medium          String,
    campaign        String,
    touches         UInt32,
    deals           UInt32,
    won_deals       UInt32,
    revenue_minor   Int64,
    _topic          LowCardinality(String),
    _partition      UInt32,
    _offset         UInt64,
    _loaded_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, account, lead_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS ${db}.deals
(
    tenant        LowCardinality(String),
    account       LowCardinality(String),
    deal_id       String,
    version       UInt64,
    deleted       UInt8,
    provider      LowCardinality(String),
    crm_deal_id   String,
    person_id     String,
    lead_id       String,
    created_at    DateTime64(3, 'UTC'),
    updated_at    DateTime64(3, 'UTC'),
    pipeline      String,
    stage         String,
    outcome       LowCardinality(String),
    amount_minor  Int64,
    currency      LowCardinality(String),
    revenue_minor Int64,
    won_at        DateTime64(3, 'UTC'),
    changes       UInt32,
    _topic        LowCardinality(String),
    _partition    UInt32,
    _offset       UInt64,
    _loaded_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, account, deal_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS ${db}.attribution
(
    tenant        LowCardinality(String),
    account       LowCardinality(String),
    lead_id       String,
    model         LowCardinality(String),
    touch         UInt16,
    version       UInt64,
    deleted       UInt8,
    touches       UInt16,
    lead_ts       DateTime64(3, 'UTC'),
    touch_ts      DateTime64(3, 'UTC'),
    session_id    String,
    channel       LowCardinality(String),
    source        String,
    medium        String,
    campaign      String,
    weight        Float64,
    revenue_minor Float64,
    _topic        LowCardinality(String),
    _partition    UInt32,
    _offset       UInt64,
    _loaded_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (tenant, account, lead_id, model, touch)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE VIEW IF NOT EXISTS ${db}.sessions_latest AS SELECT * FROM ${db}.sessions FINAL;
CREATE VIEW IF NOT EXISTS ${db}.calls_latest AS SELECT * FROM ${db}.calls FINAL;
CREATE VIEW IF NOT EXISTS ${db}.leads_latest AS SELECT * FROM ${db}.leads FINAL;
CREATE VIEW IF NOT EXISTS ${db}.deals_latest AS SELECT * FROM ${db}.deals FINAL;
CREATE VIEW IF NOT EXISTS ${db}.attribution_latest AS SELECT * FROM ${db}.attribution FINAL;
