-- One calendar (migration 0010).
SELECT * FROM slotd_calendar_get($1::bigint)
