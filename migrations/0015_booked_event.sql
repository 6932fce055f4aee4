-- slotd 0015: a booking writes its event itself.
--
-- The appointment.booked event was written by a statement-level trigger
-- on appointments (0012): a transition table, a PL/pgSQL call and a
-- second statement for every booking statement, about a fifth of the
-- database's CPU per booking.  The booking statements (book_lean.sql,
-- book_batch.sql) now write it in their own WITH, and the booking
-- functions right after their INSERT.  Cancels and moves keep their
-- trigger: they are rarer, and an update has no cheaper way.
--
-- They do so in sessions with slotd.own_events = on, which slotd's
-- workers set from this version on.  In any other session (an instance
-- still running an older slotd while a rolling upgrade goes round, an
-- import in psql) a row trigger writes the event, as before: its WHEN
-- clause costs the workers' bookings next to nothing, and no booking
-- goes without its event whoever made it.
--
-- A session with slotd.events = off writes no booked events.  Nothing
-- of slotd sets it: bench/ does, to measure bookings without their
-- events on the same statements.

CREATE FUNCTION slotd_events_on() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT current_setting('slotd.events', true) IS DISTINCT FROM 'off'
$$;

CREATE FUNCTION slotd_own_events() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT current_setting('slotd.own_events', true) = 'on'
$$;

-- The event of appointment a, just booked, as the trigger wrote it.
CREATE FUNCTION slotd_booked_event(a appointments) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO slotd_events (type, appointment_id, calendar_id, slot_ids,
                              start_at, end_at, status, name, email, note,
                              created_at, updated_at)
    SELECT 'appointment.booked', a.id,
           (SELECT calendar_id FROM slots WHERE id = a.slot_ids[1]),
           a.slot_ids, a.start_at, a.end_at, a.status, a.name, a.email,
           a.note, a.created_at, a.updated_at
     WHERE slotd_events_on()
$$;

DROP TRIGGER appointments_booked ON appointments;
DROP FUNCTION slotd_appointments_booked();
CREATE FUNCTION slotd_appointments_booked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM slotd_booked_event(NEW);
    RETURN NULL;
END
$$;
CREATE TRIGGER appointments_booked AFTER INSERT ON appointments
    FOR EACH ROW
    WHEN (current_setting('slotd.own_events', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION slotd_appointments_booked();

-- 0002's and 0005's functions, with the event after the INSERT where the
-- trigger does not write it.
CREATE OR REPLACE FUNCTION slotd_book(p_slot bigint, p_count integer,
                                      p_name text, p_email text,
                                      p_note text, p_owner text, p_key text,
                                      p_request text, p_hold uuid)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    a appointments;
    h holds;
    run bigint[];
    bad bigint;
    t_start timestamptz;
    t_end timestamptz;
BEGIN
    IF p_key IS NOT NULL THEN
        -- Requests with one key take turns, so that a retry racing the
        -- original sees its outcome instead of the seat it took.
        PERFORM pg_advisory_xact_lock(
            hashtextextended(p_owner || chr(1) || p_key, 0));
        SELECT * INTO a FROM appointments
         WHERE owner = p_owner AND idempotency_key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT * FROM slotd_rows(
                CASE WHEN a.request = p_request THEN 'replayed'
                     ELSE 'key-reused' END,
                a.id::text, a.created_at, a.slot_ids, '{}', a.start_at,
                a.end_at);
            RETURN;
        END IF;
    END IF;

    IF p_hold IS NOT NULL THEN
        SELECT * INTO h FROM holds WHERE id = p_hold AND owner = p_owner
           FOR UPDATE;
        IF NOT FOUND OR h.expires_at <= now() THEN
            RETURN QUERY SELECT * FROM slotd_rows('hold-expired', NULL, NULL,
                NULL, '{}');
            RETURN;
        END IF;
        IF (p_slot IS NOT NULL AND p_slot <> h.slot_ids[1]) OR
           (p_count IS NOT NULL AND p_count <> cardinality(h.slot_ids)) THEN
            RETURN QUERY SELECT * FROM slotd_rows('hold-mismatch', NULL, NULL,
                h.slot_ids, '{}');
            RETURN;
        END IF;
        run := h.slot_ids;
        PERFORM 1 FROM slots WHERE id = ANY (run) ORDER BY id FOR UPDATE;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM slots WHERE id = p_slot) THEN
            RETURN QUERY SELECT * FROM slotd_rows('slot-not-found', NULL,
                NULL, NULL, '{}');
            RETURN;
        END IF;
        run := slotd_lock_run(p_slot, p_count);
        IF cardinality(run) < p_count THEN
            RETURN QUERY SELECT * FROM slotd_rows('not-consecutive', NULL,
                NULL, run, run);
            RETURN;
        END IF;
        IF (SELECT start_at FROM slots WHERE id = run[1]) <= now() THEN
            RETURN QUERY SELECT * FROM slotd_rows('slot-in-past', NULL, NULL,
                run, run[1:1]);
            RETURN;
        END IF;
        SELECT id INTO bad FROM slots
         WHERE id = ANY (run) AND booked >= capacity
         ORDER BY start_at LIMIT 1;
        IF FOUND THEN
            RETURN QUERY SELECT * FROM slotd_rows('slot-full', NULL, NULL,
                run, ARRAY[bad]);
            RETURN;
        END IF;
    END IF;

    SELECT min(start_at), max(end_at) INTO t_start, t_end
      FROM slots WHERE id = ANY (run);
    -- The advisory lock above makes a conflict here impossible; should
    -- one happen anyway, it changes nothing and replays the winner.
    INSERT INTO appointments (slot_ids, start_at, end_at, name, email, note,
                              owner, idempotency_key, request)
    VALUES (run, t_start, t_end, p_name, p_email, p_note, p_owner, p_key,
            p_request)
    ON CONFLICT ON CONSTRAINT appointments_idempotency DO NOTHING
    RETURNING * INTO a;
    IF NOT FOUND THEN
        SELECT * INTO a FROM appointments
         WHERE owner = p_owner AND idempotency_key = p_key;
        RETURN QUERY SELECT * FROM slotd_rows(
            CASE WHEN a.request = p_request THEN 'replayed'
                 ELSE 'key-reused' END,
            a.id::text, a.created_at, a.slot_ids, '{}', a.start_at,
            a.end_at);
        RETURN;
    END IF;
    IF slotd_own_events() THEN
        PERFORM slotd_booked_event(a);
    END IF;
    IF p_hold IS NOT NULL THEN
        DELETE FROM holds WHERE id = p_hold;      -- its seats pass on
    ELSE
        UPDATE slots SET booked = booked + 1 WHERE id = ANY (run);
    END IF;
    RETURN QUERY SELECT * FROM slotd_rows('booked', a.id::text, a.created_at,
        run, run, a.start_at, a.end_at);
END
$$;

CREATE OR REPLACE FUNCTION slotd_book_one(p_slot bigint, p_name text,
                                          p_email text, p_note text,
                                          p_owner text, p_key text,
                                          p_request text)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    a appointments;
    s slots;
BEGIN
    IF p_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(
            hashtextextended(p_owner || chr(1) || p_key, 0));
        SELECT * INTO a FROM appointments
         WHERE owner = p_owner AND idempotency_key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT * FROM slotd_rows(
                CASE WHEN a.request = p_request THEN 'replayed'
                     ELSE 'key-reused' END,
                a.id::text, a.created_at, a.slot_ids, '{}', a.start_at,
                a.end_at);
            RETURN;
        END IF;
    END IF;
    SELECT * INTO s FROM slots WHERE id = p_slot FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM slotd_rows('slot-not-found', NULL, NULL,
            NULL, '{}');
        RETURN;
    END IF;
    IF s.start_at <= now() OR s.booked >= s.capacity THEN
        RETURN QUERY SELECT CASE WHEN s.start_at <= now() THEN 'slot-in-past'
                                 ELSE 'slot-full' END,
            NULL::text, NULL::bigint, ARRAY[s.id], NULL::bigint,
            NULL::bigint, s.id, s.calendar_id, slotd_epoch(s.start_at),
            slotd_epoch(s.end_at), s.capacity, s.booked, s.version;
        RETURN;
    END IF;
    INSERT INTO appointments (slot_ids, start_at, end_at, name, email, note,
                              owner, idempotency_key, request)
    VALUES (ARRAY[s.id], s.start_at, s.end_at, p_name, p_email, p_note,
            p_owner, p_key, p_request)
    RETURNING * INTO a;
    IF slotd_own_events() THEN
        PERFORM slotd_booked_event(a);
    END IF;
    UPDATE slots SET booked = booked + 1 WHERE id = s.id RETURNING * INTO s;
    RETURN QUERY SELECT 'booked', a.id::text, slotd_epoch(a.created_at),
        a.slot_ids, slotd_epoch(a.start_at), slotd_epoch(a.end_at), s.id,
        s.calendar_id, slotd_epoch(s.start_at), slotd_epoch(s.end_at),
        s.capacity, s.booked, s.version;
END
$$;
