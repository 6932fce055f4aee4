-- Cancel an appointment of its owner, or any as an admin.
SELECT * FROM slotd_cancel($1::bigint, $2, $3::boolean)
