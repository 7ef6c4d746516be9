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

-- Units sold: a deal's quantity (the sum of its line items' quantities, or
-- the quantity the CRM gives; 0 where it gives none), and per report row the
-- units of the leads' won deals, weighted like revenue.
ALTER TABLE ${db}.deals ADD COLUMN IF NOT EXISTS units Float64 DEFAULT 0 AFTER revenue_minor;
ALTER TABLE ${db}.leads_daily ADD COLUMN IF NOT EXISTS units Float64 DEFAULT 0 AFTER revenue_minor;
