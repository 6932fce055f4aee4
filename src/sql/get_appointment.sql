-- An appointment, for its owner or an admin (migration 0010's document).
SELECT (slotd_appointment_row(a)).*
  FROM appointments a
 WHERE a.id = $1::bigint AND ($2 = a.owner OR $3::boolean)
