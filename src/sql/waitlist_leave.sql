-- Leave the waitlist; an open offer's seats pass to the next entry.
SELECT * FROM slotd_waitlist_leave($1::uuid, $2, $3::boolean)
