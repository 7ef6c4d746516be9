-- The report aggregates are rewritten in small parts every refresh round,
-- and reports read them with FINAL, which merges a key's versions across
-- parts at read time. Merge parts older than a minute in the background
-- even when the usual merge heuristics would wait for more parts, so FINAL
-- mostly reads one part per partition.
ALTER TABLE ${db}.traffic_daily MODIFY SETTING min_age_to_force_merge_seconds = 60;
ALTER TABLE ${db}.leads_daily MODIFY SETTING min_age_to_force_merge_seconds = 60;
ALTER TABLE ${db}.leads_hourly MODIFY SETTING min_age_to_force_merge_seconds = 60;
ALTER TABLE ${db}.spend_daily MODIFY SETTING min_age_to_force_merge_seconds = 60;
