-- Web-analytics ids of a session's visitor: Yandex Metrica's ClientID (the
-- _ym_uid cookie, Metrica's ym:s:clientID) and Google Analytics' client id
-- (the last two fields of the _ga cookie), when the site runs them and the
-- JS tracker read them. Data teams join Throughline sessions with a Metrica
-- Logs API export or a GA export on them (docs/cookbook.md). Empty for
-- sessions of visitors without them and for rows written before.
ALTER TABLE ${db}.sessions ADD COLUMN IF NOT EXISTS ym_client_id String DEFAULT '' AFTER first_event_id;
ALTER TABLE ${db}.sessions ADD COLUMN IF NOT EXISTS ga_client_id String DEFAULT '' AFTER ym_client_id;

-- A view keeps the columns its table had when it was created: recreate the
-- latest-version views of the tables that gained columns (deals.units in
-- 0011, the two ids here), so data teams reading them see the new columns.
DROP VIEW IF EXISTS ${db}.sessions_latest;
CREATE VIEW IF NOT EXISTS ${db}.sessions_latest AS SELECT * FROM ${db}.sessions FINAL;
DROP VIEW IF EXISTS ${db}.deals_latest;
CREATE VIEW IF NOT EXISTS ${db}.deals_latest AS SELECT * FROM ${db}.deals FINAL;
