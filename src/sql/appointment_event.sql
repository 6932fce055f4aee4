-- An appointment as an iCalendar event, for its owner or an admin: its
-- document (migration 0010), then its SEQUENCE and UID (0011) and its
-- calendar's name.
SELECT r.*, a.sequence, slotd_event_uid(a.id) AS uid,
       c.name AS calendar_name
  FROM appointments a
       CROSS JOIN LATERAL slotd_appointment_row(a) r
       LEFT JOIN calendars c ON c.id = r.calendar_id
 WHERE a.id = $1::bigint AND ($2 = a.owner OR $3::boolean)
