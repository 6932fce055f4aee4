-- slotd 0002: appointments, holds, idempotent retries, and the functions
-- that book, hold, release, cancel and manage slots in one round trip.
--
-- Every function that changes seats locks the slot rows in id order (so
-- that bookings of overlapping slot runs cannot deadlock) and returns the
-- new state of each slot it touched, which the caller applies to its cache.
-- Times cross the boundary as epoch seconds.

CREATE TABLE appointments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slot_ids        bigint[]    NOT NULL CHECK (cardinality(slot_ids) BETWEEN 1 AND 5),
    start_at        timestamptz NOT NULL,
    end_at          timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'booked'
                                CHECK (status IN ('booked', 'cancelled')),
    name            text,
    email           text,
    note            text,
    owner           text        NOT NULL DEFAULT '',
    idempotency_key text,
    request         text,      -- canonical form of the request, for replays
    created_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at    timestamptz,
    CONSTRAINT appointments_idempotency UNIQUE (owner, idempotency_key)
);
CREATE INDEX appointments_slots ON appointments USING gin (slot_ids);

CREATE TABLE holds (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slot_ids    bigint[]    NOT NULL CHECK (cardinality(slot_ids) BETWEEN 1 AND 5),
    owner       text        NOT NULL DEFAULT '',
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_expiry ON holds (expires_at);

-- What every seat-changing function returns: one row per slot touched,
-- in start order (or a single row without slot), each with the outcome, a
-- reference (appointment id or hold id), a time (created or expires at),
-- the run of slot ids and the time span it covers, and the slot's new
-- state for the caller's cache.
CREATE TYPE slotd_result AS (
    outcome text, ref text, at_s bigint, slot_ids bigint[],
    span_start_s bigint, span_end_s bigint,
    id bigint, calendar_id bigint, start_s bigint, end_s bigint,
    capacity integer, booked integer, version bigint);

CREATE FUNCTION slotd_epoch(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT floor(extract(epoch FROM t))::bigint $$;

CREATE FUNCTION slotd_rows(p_outcome text, p_ref text, p_at timestamptz,
                           p_run bigint[], p_ids bigint[],
                           p_span_start timestamptz DEFAULT NULL,
                           p_span_end timestamptz DEFAULT NULL)
RETURNS SETOF slotd_result
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT p_outcome, p_ref, slotd_epoch(p_at), p_run,
           slotd_epoch(p_span_start), slotd_epoch(p_span_end),
           s.id, s.calendar_id, slotd_epoch(s.start_at),
           slotd_epoch(s.end_at), s.capacity, s.booked, s.version
      FROM slots s WHERE s.id = ANY (p_ids) ORDER BY s.start_at;
    IF NOT FOUND THEN
        RETURN QUERY SELECT p_outcome, p_ref, slotd_epoch(p_at), p_run,
            slotd_epoch(p_span_start), slotd_epoch(p_span_end),
            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
            NULL::integer, NULL::integer, NULL::bigint;
    END IF;
END
$$;

-- The ids of up to p_count consecutive slots from p_first: same calendar,
-- each starting where the previous one ends.
CREATE FUNCTION slotd_chain(p_first bigint, p_count integer) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain AS (
        SELECT s.id, s.calendar_id, s.end_at, 1 AS n FROM slots s
         WHERE s.id = p_first
        UNION ALL
        SELECT s.id, s.calendar_id, s.end_at, c.n + 1 FROM chain c
          JOIN slots s ON s.calendar_id = c.calendar_id
                      AND s.start_at = c.end_at
         WHERE c.n < p_count)
    SELECT coalesce(array_agg(id ORDER BY n), '{}') FROM chain
$$;

-- The chain, locked in id order and confirmed under the locks; empty when
-- it changed meanwhile (locking again could take locks out of order).
CREATE FUNCTION slotd_lock_run(p_first bigint, p_count integer)
RETURNS bigint[]
LANGUAGE plpgsql AS $$
DECLARE
    run bigint[] := slotd_chain(p_first, p_count);
BEGIN
    PERFORM 1 FROM slots WHERE id = ANY (run) ORDER BY id FOR UPDATE;
    IF slotd_chain(p_first, p_count) = run THEN
        RETURN run;
    END IF;
    RETURN '{}';
END
$$;

-- Book p_count consecutive slots from p_slot, or convert hold p_hold.
-- Outcomes: booked, replayed, key-reused, slot-not-found, not-consecutive,
-- slot-in-past, slot-full, hold-expired, hold-mismatch.
CREATE FUNCTION slotd_book(p_slot bigint, p_count integer, p_name text,
                           p_email text, p_note text, p_owner text,
                           p_key text, p_request text, p_hold uuid)
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
    IF p_hold IS NOT NULL THEN
        DELETE FROM holds WHERE id = p_hold;      -- its seats pass on
    ELSE
        UPDATE slots SET booked = booked + 1 WHERE id = ANY (run);
    END IF;
    RETURN QUERY SELECT * FROM slotd_rows('booked', a.id::text, a.created_at,
        run, run, a.start_at, a.end_at);
END
$$;

-- Cancel once; a second cancel frees nothing.
CREATE FUNCTION slotd_cancel(p_id bigint, p_owner text, p_admin boolean)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    a appointments;
BEGIN
    SELECT * INTO a FROM appointments
     WHERE id = p_id AND (p_admin OR owner = p_owner) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM slotd_rows('not-found', NULL, NULL, NULL,
            '{}');
        RETURN;
    END IF;
    IF a.status = 'cancelled' THEN
        RETURN QUERY SELECT * FROM slotd_rows('already-cancelled',
            a.id::text, a.cancelled_at, a.slot_ids, '{}');
        RETURN;
    END IF;
    PERFORM 1 FROM slots WHERE id = ANY (a.slot_ids) ORDER BY id FOR UPDATE;
    UPDATE slots SET booked = booked - 1 WHERE id = ANY (a.slot_ids);
    UPDATE appointments SET status = 'cancelled', cancelled_at = now()
     WHERE id = a.id;
    RETURN QUERY SELECT * FROM slotd_rows('cancelled', a.id::text, now(),
        a.slot_ids, a.slot_ids);
END
$$;

-- Take seats for p_ttl seconds.  Outcomes: held, slot-not-found,
-- not-consecutive, slot-in-past, slot-full.
CREATE FUNCTION slotd_hold(p_slot bigint, p_count integer, p_owner text,
                           p_ttl integer)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    run bigint[];
    bad bigint;
    h holds;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM slots WHERE id = p_slot) THEN
        RETURN QUERY SELECT * FROM slotd_rows('slot-not-found', NULL, NULL,
            NULL, '{}');
        RETURN;
    END IF;
    run := slotd_lock_run(p_slot, p_count);
    IF cardinality(run) < p_count THEN
        RETURN QUERY SELECT * FROM slotd_rows('not-consecutive', NULL, NULL,
            run, run);
        RETURN;
    END IF;
    IF (SELECT start_at FROM slots WHERE id = run[1]) <= now() THEN
        RETURN QUERY SELECT * FROM slotd_rows('slot-in-past', NULL, NULL,
            run, run[1:1]);
        RETURN;
    END IF;
    SELECT id INTO bad FROM slots
     WHERE id = ANY (run) AND booked >= capacity ORDER BY start_at LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT * FROM slotd_rows('slot-full', NULL, NULL, run,
            ARRAY[bad]);
        RETURN;
    END IF;
    UPDATE slots SET booked = booked + 1 WHERE id = ANY (run);
    INSERT INTO holds (slot_ids, owner, expires_at)
    VALUES (run, p_owner, date_trunc('second', now() + interval '999999 us')
                          + make_interval(secs => p_ttl))
    RETURNING * INTO h;
    RETURN QUERY SELECT * FROM slotd_rows('held', h.id::text, h.expires_at,
        run, run, (SELECT min(start_at) FROM slots WHERE id = ANY (run)),
        (SELECT max(end_at) FROM slots WHERE id = ANY (run)));
END
$$;

-- Give back the seats of hold p_id, or of every expired hold (p_id NULL).
-- Holds being converted right now are skipped, not waited for.
CREATE FUNCTION slotd_release(p_id uuid, p_owner text)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    freed bigint[] := '{}';
    h holds;
BEGIN
    FOR h IN
        SELECT * FROM holds
         WHERE CASE WHEN p_id IS NULL THEN expires_at <= now()
                    ELSE id = p_id AND owner = p_owner END
         ORDER BY id FOR UPDATE SKIP LOCKED
    LOOP
        freed := freed || h.slot_ids;
        DELETE FROM holds WHERE id = h.id;
    END LOOP;
    IF cardinality(freed) = 0 THEN
        RETURN QUERY SELECT * FROM slotd_rows('not-found', NULL, NULL, NULL,
            '{}');
        RETURN;
    END IF;
    PERFORM 1 FROM slots WHERE id = ANY (freed) ORDER BY id FOR UPDATE;
    UPDATE slots s SET booked = s.booked - f.n
      FROM (SELECT u.id, count(*)::integer AS n FROM unnest(freed) AS u(id)
             GROUP BY u.id) f
     WHERE s.id = f.id;
    RETURN QUERY SELECT * FROM slotd_rows('released', NULL, NULL, freed,
        freed);
END
$$;

-- Admin: create slots, all or nothing; an overlap raises
-- exclusion_violation (or unique_violation for an equal start).
CREATE FUNCTION slotd_create_slots(p_starts bigint[], p_ends bigint[],
                                   p_capacities integer[])
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    WITH ins AS (
        INSERT INTO slots (start_at, end_at, capacity, origin)
        SELECT to_timestamp(g.s), to_timestamp(g.e), g.c, 'admin'
          FROM unnest(p_starts, p_ends, p_capacities) AS g(s, e, c)
        RETURNING id)
    SELECT array_agg(id ORDER BY id) INTO ids FROM ins;
    -- Identity values follow the insert order.
    RETURN QUERY SELECT r.* FROM unnest(ids) AS u(id),
        LATERAL slotd_rows('created', NULL, NULL, ids, ARRAY[u.id]) r;
END
$$;

CREATE FUNCTION slotd_set_capacity(p_id bigint, p_capacity integer)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    cur slots;
BEGIN
    SELECT * INTO cur FROM slots WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM slotd_rows('slot-not-found', NULL, NULL,
            NULL, '{}');
    ELSIF p_capacity < cur.booked THEN
        RETURN QUERY SELECT * FROM slotd_rows('capacity-below-booked', NULL,
            NULL, NULL, ARRAY[p_id]);
    ELSE
        UPDATE slots SET capacity = p_capacity WHERE id = p_id;
        RETURN QUERY SELECT * FROM slotd_rows('updated', NULL, NULL, NULL,
            ARRAY[p_id]);
    END IF;
END
$$;

CREATE FUNCTION slotd_delete_slot(p_id bigint)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    cur slots;
BEGIN
    SELECT * INTO cur FROM slots WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM slotd_rows('slot-not-found', NULL, NULL,
            NULL, '{}');
    ELSIF cur.booked > 0 THEN
        RETURN QUERY SELECT * FROM slotd_rows('slot-has-bookings', NULL,
            NULL, NULL, ARRAY[p_id]);
    ELSE
        DELETE FROM slots WHERE id = p_id;
        RETURN QUERY SELECT * FROM slotd_rows('deleted', p_id::text, NULL,
            NULL, '{}');
    END IF;
END
$$;
