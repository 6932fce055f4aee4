-- Calendar $1's feed, when $2 is its feed token: its appointments that
-- start from 30 days ago to the end of its horizon (its local today +
-- horizonDays), cancelled ones too, in start order, as in
-- appointment_event.sql; or, when it has none, one row with its name and
-- no appointment.  No rows: no such calendar, or not its token.  The
-- tokens are compared as digests, so that the time the comparison takes
-- says nothing about how much of a guess was right.
SELECT r.*, (e.appointment).sequence, slotd_event_uid(r.id) AS uid,
       c.name AS calendar_name
  FROM calendars c
       LEFT JOIN LATERAL (
           SELECT a AS appointment
             FROM slots s JOIN appointments a ON a.slot_ids[1] = s.id
            WHERE s.calendar_id = c.id
              AND s.start_at >= now() - interval '30 days'
              AND s.start_at < ((now() AT TIME ZONE c.timezone)::date +
                                (c.schedule->>'horizonDays')::integer)
                               ::timestamp AT TIME ZONE c.timezone) e
       ON true
       LEFT JOIN LATERAL slotd_appointment_row(e.appointment) r ON true
 WHERE c.id = $1::bigint AND c.deleted_at IS NULL
   AND sha256(convert_to(c.feed_token, 'UTF8')) =
       sha256(convert_to($2, 'UTF8'))
 ORDER BY r.start_s, r.id
