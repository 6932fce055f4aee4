-- An appointment, for its owner or an admin.
SELECT id, slot_ids, slotd_epoch(start_at) AS start_s,
       slotd_epoch(end_at) AS end_s, status, name, email, note,
       slotd_epoch(created_at) AS created_s
  FROM appointments
 WHERE id = $1::bigint AND ($2 = owner OR $3::boolean)
