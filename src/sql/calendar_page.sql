-- Calendars after a cursor, one more than asked for when more follow.
SELECT * FROM slotd_calendar_page($1, $2::integer)
