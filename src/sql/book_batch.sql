-- book_lean for several bookings in one statement and one commit: one
-- array per parameter, one row per booking in their order.  Slot rows are
-- locked in id order, as every writer does; the bookings of one slot get
-- its free seats in the order they came, unless its calendar's window
-- refuses them all; the appointments' ids are drawn first to tie each to
-- its booking.  Their events are written as book_lean writes its one.
WITH req AS (SELECT r.*, row_number() OVER (PARTITION BY r.slot_id
                                            ORDER BY r.n) AS rank
               FROM unnest($1::bigint[], $2::text[], $3::text[],
                           $4::text[], $5::text[])
                    WITH ORDINALITY AS r(slot_id, name, email, note,
                                         owner, n)),
want AS (SELECT slot_id, count(*) AS k FROM req GROUP BY slot_id),
s AS (SELECT * FROM slots WHERE id IN (SELECT slot_id FROM want)
       ORDER BY id FOR UPDATE),
g AS (SELECT s.*, w.refusal,
             CASE WHEN s.start_at > now() AND w.refusal IS NULL
                  THEN least(want.k, s.capacity - s.booked)
                  ELSE 0 END AS granted
        FROM s JOIN want ON want.slot_id = s.id
        LEFT JOIN calendars c ON c.id = s.calendar_id,
        LATERAL (SELECT slotd_window_refusal(c.rules, s.start_at, false)
                 AS refusal) w),
u AS (UPDATE slots x SET booked = x.booked + g.granted,
                         version = x.version + 1
        FROM g WHERE x.id = g.id AND g.granted > 0 RETURNING x.*),
l AS (INSERT INTO slot_changes (slot_ids)
      SELECT array_agg(id) FROM u HAVING count(*) > 0),
ids AS (SELECT req.n, nextval('appointments_id_seq') AS id
          FROM req JOIN g ON g.id = req.slot_id
         WHERE req.rank <= g.granted),
a AS (INSERT INTO appointments (id, slot_ids, start_at, end_at, name,
                                email, note, owner)
      OVERRIDING SYSTEM VALUE
      SELECT ids.id, ARRAY[g.id], g.start_at, g.end_at, req.name,
             req.email, req.note, req.owner
        FROM ids JOIN req USING (n) JOIN g ON g.id = req.slot_id
      RETURNING id, created_at, updated_at, slot_ids, start_at, end_at,
                status, name, email, note),
e AS (INSERT INTO slotd_events (type, appointment_id, calendar_id,
                                slot_ids, start_at, end_at, status, name,
                                email, note, created_at, updated_at)
      SELECT 'appointment.booked', a.id, g.calendar_id, a.slot_ids,
             a.start_at, a.end_at, a.status, a.name, a.email, a.note,
             a.created_at, a.updated_at
        FROM a JOIN g ON g.id = a.slot_ids[1]
       WHERE slotd_events_on() AND slotd_own_events() ORDER BY a.id)
SELECT CASE WHEN g.id IS NULL THEN 'slot-not-found'
            WHEN a.id IS NOT NULL THEN 'booked'
            WHEN g.start_at <= now() THEN 'slot-in-past'
            ELSE coalesce(g.refusal, 'slot-full') END AS outcome,
       a.id::text AS ref, slotd_epoch(a.created_at) AS at_s,
       coalesce(a.slot_ids, ARRAY[g.id]) AS slot_ids,
       slotd_epoch(a.start_at) AS span_start_s,
       slotd_epoch(a.end_at) AS span_end_s,
       coalesce(u.id, g.id) AS id,
       coalesce(u.calendar_id, g.calendar_id) AS calendar_id,
       slotd_epoch(coalesce(u.start_at, g.start_at)) AS start_s,
       slotd_epoch(coalesce(u.end_at, g.end_at)) AS end_s,
       coalesce(u.capacity, g.capacity) AS capacity,
       coalesce(u.booked, g.booked) AS booked,
       coalesce(u.version, g.version) AS version
  FROM req LEFT JOIN g ON g.id = req.slot_id
  LEFT JOIN u ON u.id = req.slot_id
  LEFT JOIN ids ON ids.n = req.n
  LEFT JOIN a ON a.id = ids.id
 ORDER BY req.n
