-- Leads by kind in the report aggregate: how many of a row's leads were
-- calls, forms, chats and CRM leads (weighted by attribution, like leads),
-- so reports can give the cost of a call and of a form lead separately.
-- The four sum to leads: a lead of any other kind counts as a form.
-- Rows written before this migration hold zeros here; the console's
-- refresher notices rows whose kinds do not sum to their leads and
-- recomputes every account once (docs/design/analytics-aggregates.md).
ALTER TABLE ${db}.leads_daily ADD COLUMN IF NOT EXISTS leads_call Float64 DEFAULT 0 AFTER leads;
ALTER TABLE ${db}.leads_daily ADD COLUMN IF NOT EXISTS leads_form Float64 DEFAULT 0 AFTER leads_call;
ALTER TABLE ${db}.leads_daily ADD COLUMN IF NOT EXISTS leads_chat Float64 DEFAULT 0 AFTER leads_form;
ALTER TABLE ${db}.leads_daily ADD COLUMN IF NOT EXISTS leads_crm Float64 DEFAULT 0 AFTER leads_chat;
