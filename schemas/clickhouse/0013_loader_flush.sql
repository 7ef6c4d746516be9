-- The loader inserts one table's batches of all its partitions together, as
-- one insert with one deduplication token: each recorded batch range names
-- the flush it belongs to, so that after a crash the whole flush is re-formed
-- under its token (docs/design/loader-exactly-once.md). 0: a range recorded
-- before this column, re-formed alone under its own range's token.
ALTER TABLE ${db}.loader_batches ADD COLUMN IF NOT EXISTS flush UInt64 DEFAULT 0 AFTER rows;
