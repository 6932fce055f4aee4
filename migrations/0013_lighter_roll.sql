-- slotd 0013: a lighter making of a calendar's slots.
--
-- slotd_apply_calendar kept the slots it wanted in a temporary table, so
-- every call created and dropped one: catalog rows written and removed
-- for each calendar, a third of the time of a day's roll (the syncer
-- calling it once for every calendar when a local day begins).  The
-- wanted slots are now two arrays, and the roll, which only adds the days
-- the horizon gained, skips the comparison with the slots already made.
-- The slots that no longer fit a changed schedule are now deleted before
-- the new ones are made: made first, every new slot that overlapped an old
-- one (a new length or step) was refused by the overlap constraint, and
-- the old ones then went, leaving the days without them.  Otherwise the
-- function's contract is unchanged (0010).
--
-- Making a calendar's slots also wrote its applied_* columns, and every
-- update of a calendar told every syncer to look for due calendars again:
-- a roll of thousands of calendars made as many looks, so syncers held
-- them back until their round ended, and with them the news of a calendar
-- created or changed meanwhile.  Only a change a syncer has to act on is
-- told now, and a syncer acts on it at once, whatever round is under way.
CREATE OR REPLACE FUNCTION slotd_apply_calendar(p_cal bigint,
                                                p_now timestamptz)
RETURNS TABLE (created integer, removed integer, kept integer,
               resized integer)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    c        calendars;
    today    date;
    horizon  date;
    first    date;
    cap      integer;
    whole    boolean;
    starts   timestamptz[] := '{}';
    ends     timestamptz[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('slotd_calendar'), p_cal::integer);
    SELECT * INTO c FROM calendars WHERE id = p_cal FOR UPDATE;
    IF NOT FOUND OR c.deleted_at IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('slotd.applying_schedule', 'on', true);
    today := (p_now AT TIME ZONE c.timezone)::date;
    horizon := today + (c.schedule->>'horizonDays')::integer;
    cap := (c.schedule->>'capacity')::integer;
    whole := c.applied_version <> c.schedule_version OR
             c.applied_through IS NULL;
    first := CASE WHEN whole THEN today
                  ELSE greatest(today, c.applied_through) END;
    created := 0;
    removed := 0;
    kept := 0;
    resized := 0;
    IF NOT whole AND first >= horizon THEN
        RETURN NEXT;		-- nothing new since the last time
        RETURN;
    END IF;

    IF first < horizon THEN
        SELECT coalesce(array_agg(w.start_at), '{}'),
               coalesce(array_agg(w.end_at), '{}')
          INTO starts, ends
          FROM slotd_calendar_spans(p_cal, first, horizon) AS w;
    END IF;

    -- What no longer fits goes first: a new grid's slots overlap the old
    -- one's, and would not be made while those stand.
    IF whole THEN
        DELETE FROM slots x
         WHERE x.origin = 'schedule' AND x.calendar_id = p_cal
           AND x.start_at >= p_now AND x.booked = 0
           AND NOT EXISTS (SELECT 1 FROM unnest(starts, ends) AS w(s, e)
                            WHERE w.s = x.start_at AND w.e = x.end_at);
        GET DIAGNOSTICS removed = ROW_COUNT;

        SELECT count(*) INTO kept FROM slots x
         WHERE x.origin = 'schedule' AND x.calendar_id = p_cal
           AND x.start_at >= p_now
           AND NOT EXISTS (SELECT 1 FROM unnest(starts, ends) AS w(s, e)
                            WHERE w.s = x.start_at AND w.e = x.end_at);

        IF c.applied_capacity IS DISTINCT FROM cap THEN
            UPDATE slots x SET capacity = cap
             WHERE x.origin = 'schedule' AND x.calendar_id = p_cal
               AND x.start_at >= p_now AND x.capacity = c.applied_capacity
               AND x.booked <= cap;
            GET DIAGNOSTICS resized = ROW_COUNT;
        END IF;
    END IF;

    INSERT INTO slots (calendar_id, start_at, end_at, capacity, origin)
    SELECT p_cal, w.s, w.e, cap, 'schedule'
      FROM unnest(starts, ends) AS w(s, e)
     WHERE NOT EXISTS (SELECT 1 FROM slotd_schedule_exclusions x
                        WHERE x.calendar_id = p_cal AND x.start_at = w.s)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS created = ROW_COUNT;
    IF whole OR c.applied_through IS DISTINCT FROM horizon THEN
        UPDATE calendars SET applied_version = c.schedule_version,
                             applied_through = horizon,
                             applied_capacity = cap
         WHERE id = p_cal;
    END IF;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION calendars_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    applied CONSTANT text[] := ARRAY['applied_version', 'applied_through',
                                     'applied_capacity'];
BEGIN
    IF TG_OP = 'UPDATE' AND to_jsonb(OLD) - applied = to_jsonb(NEW) - applied
    THEN
        RETURN NULL;		-- only its slots made: nothing to look at
    END IF;
    PERFORM pg_notify('slotd_calendars', NEW.id::text);
    RETURN NULL;
END
$$;
