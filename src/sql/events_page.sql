-- Events after an id, oldest first, those committed since numbered first
-- (migration 0012).
SELECT * FROM slotd_events_page($1::bigint, $2::integer)
