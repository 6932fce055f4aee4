-- A calendar deleted with its future slots, unless one is booked or held.
SELECT * FROM slotd_calendar_delete($1::bigint)
