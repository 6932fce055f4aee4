-- Appointments in start order after a cursor: an admin's of anyone, a
-- subject's own; of a calendar or all; in a time range if given.
SELECT * FROM slotd_appointment_page($1, $2::boolean, $3::bigint,
                                     $4::bigint, $5::bigint, $6, $7,
                                     $8::integer)
