-- One slot, no hold, no idempotency key, not an admin: one plain
-- statement that locks the row, books only if a seat is free, the slot
-- ahead and inside its calendar's booking window, logs the change
-- (migration 0008), writes the appointment's event (0015), and answers as
-- slotd_book does.
WITH s AS (SELECT x.*, c.rules FROM slots x
             LEFT JOIN calendars c ON c.id = x.calendar_id
            WHERE x.id = $1::bigint FOR UPDATE OF x),
ok AS (SELECT * FROM s WHERE start_at > now() AND booked < capacity
          AND slotd_window_refusal(rules, start_at, false) IS NULL),
a AS (INSERT INTO appointments (slot_ids, start_at, end_at, name, email,
                                note, owner)
      SELECT ARRAY[id], start_at, end_at, $2, $3, $4, $5 FROM ok
      RETURNING id, created_at, updated_at, slot_ids, start_at, end_at,
                status, name, email, note),
e AS (INSERT INTO slotd_events (type, appointment_id, calendar_id,
                                slot_ids, start_at, end_at, status, name,
                                email, note, created_at, updated_at)
      SELECT 'appointment.booked', a.id, ok.calendar_id, a.slot_ids,
             a.start_at, a.end_at, a.status, a.name, a.email, a.note,
             a.created_at, a.updated_at
        FROM a, ok WHERE slotd_events_on() AND slotd_own_events()),
u AS (UPDATE slots x SET booked = x.booked + 1, version = x.version + 1
        FROM ok WHERE x.id = ok.id RETURNING x.*),
l AS (INSERT INTO slot_changes (slot_ids)
      SELECT array_agg(id) FROM u HAVING count(*) > 0)
SELECT CASE WHEN s.id IS NULL THEN 'slot-not-found'
            WHEN u.id IS NOT NULL THEN 'booked'
            WHEN s.start_at <= now() THEN 'slot-in-past'
            ELSE coalesce(slotd_window_refusal(s.rules, s.start_at, false),
                          'slot-full')
            END AS outcome,
       a.id::text AS ref, slotd_epoch(a.created_at) AS at_s,
       coalesce(a.slot_ids, ARRAY[s.id]) AS slot_ids,
       slotd_epoch(a.start_at) AS span_start_s,
       slotd_epoch(a.end_at) AS span_end_s,
       coalesce(u.id, s.id) AS id,
       coalesce(u.calendar_id, s.calendar_id) AS calendar_id,
       slotd_epoch(coalesce(u.start_at, s.start_at)) AS start_s,
       slotd_epoch(coalesce(u.end_at, s.end_at)) AS end_s,
       coalesce(u.capacity, s.capacity) AS capacity,
       coalesce(u.booked, s.booked) AS booked,
       coalesce(u.version, s.version) AS version
  FROM (SELECT 1) one LEFT JOIN s ON true LEFT JOIN u ON true
  LEFT JOIN a ON true
