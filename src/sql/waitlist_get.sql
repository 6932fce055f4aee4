-- A waitlist entry of its owner, or any for an admin.
SELECT * FROM slotd_waitlist_get($1::uuid, $2, $3::boolean)
