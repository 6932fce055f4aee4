-- Cancel an appointment of its owner, or any as an admin, up to its
-- calendar's cancel notice (admins exempt), keeping the reason if given.
SELECT * FROM slotd_cancel_ruled($1::bigint, $2, $3::boolean, $4)
