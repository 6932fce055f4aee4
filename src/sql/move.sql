-- Move an appointment to other slots in one transaction (migration 0010).
SELECT * FROM slotd_move($1::bigint, $2, $3::boolean, $4::bigint,
                         $5::integer, $6, $7)
