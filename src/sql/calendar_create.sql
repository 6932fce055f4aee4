-- A new calendar, its slots made in the same transaction.
SELECT * FROM slotd_calendar_create($1, $2, $3::jsonb, $4::jsonb)
