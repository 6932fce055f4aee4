-- slotd 0003: re-applying a changed schedule, and notifications that carry
-- their commit time so that caches can report their lag.

-- Payloads: u,id,calendar,start,end,capacity,booked,version,sent_ms
--           d,id,version,sent_ms
--           r
CREATE OR REPLACE FUNCTION slots_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    sent bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('slotd_slots', 'r');
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('slotd_slots',
            concat_ws(',', 'd', OLD.id, OLD.version, sent));
        RETURN NULL;
    END IF;
    PERFORM pg_notify('slotd_slots', concat_ws(',', 'u', NEW.id, NEW.calendar_id,
        floor(extract(epoch FROM NEW.start_at))::bigint,
        floor(extract(epoch FROM NEW.end_at))::bigint,
        NEW.capacity, NEW.booked, NEW.version, sent));
    RETURN NULL;
END
$$;

-- The schedule as last applied, and the schedule slots someone deleted:
-- generation must not bring those back, nor undo an admin's capacity.
CREATE TABLE slotd_schedule (
    id       integer PRIMARY KEY CHECK (id = 1),
    capacity integer NOT NULL
);

CREATE TABLE slotd_schedule_exclusions (
    calendar_id bigint      NOT NULL,
    start_at    timestamptz NOT NULL,
    PRIMARY KEY (calendar_id, start_at)
);

CREATE FUNCTION slots_remember_deletion() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.origin = 'schedule' AND
       coalesce(current_setting('slotd.applying_schedule', true), '') <> 'on'
    THEN
        INSERT INTO slotd_schedule_exclusions VALUES (OLD.calendar_id,
            OLD.start_at) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER slots_remember_deletion AFTER DELETE ON slots
    FOR EACH ROW EXECUTE FUNCTION slots_remember_deletion();

-- Make the schedule's slots in [p_from, p_to) the given ones, as far as
-- nobody's seat is at stake: missing ones are inserted (unless someone
-- deleted that slot, or another overlaps it), future schedule slots that no
-- longer fit are deleted unless booked or held (those are kept and
-- counted), and when the schedule's capacity changed, future slots still
-- at the old capacity take the new one (if their seats taken allow).
CREATE FUNCTION slotd_apply_schedule(p_starts bigint[], p_ends bigint[],
                                     p_capacity integer, p_from bigint,
                                     p_to bigint)
RETURNS TABLE (created integer, removed integer, kept integer,
               resized integer)
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := greatest(now(), to_timestamp(p_from));
    hi timestamptz := to_timestamp(p_to);
    old_capacity integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('slotd_generate_slots'));
    PERFORM set_config('slotd.applying_schedule', 'on', true);
    CREATE TEMP TABLE IF NOT EXISTS slotd_wanted (s timestamptz, e timestamptz)
        ON COMMIT DROP;
    TRUNCATE slotd_wanted;
    INSERT INTO slotd_wanted
    SELECT to_timestamp(g.s), to_timestamp(g.e)
      FROM unnest(p_starts, p_ends) AS g(s, e);

    INSERT INTO slots (calendar_id, start_at, end_at, capacity, origin)
    SELECT 1, w.s, w.e, p_capacity, 'schedule' FROM slotd_wanted w
     WHERE NOT EXISTS (SELECT 1 FROM slotd_schedule_exclusions x
                        WHERE x.calendar_id = 1 AND x.start_at = w.s)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS created = ROW_COUNT;

    DELETE FROM slots x
     WHERE x.origin = 'schedule' AND x.calendar_id = 1
       AND x.start_at >= lo AND x.start_at < hi AND x.booked = 0
       AND NOT EXISTS (SELECT 1 FROM slotd_wanted w
                        WHERE w.s = x.start_at AND w.e = x.end_at);
    GET DIAGNOSTICS removed = ROW_COUNT;

    SELECT count(*) INTO kept FROM slots x
     WHERE x.origin = 'schedule' AND x.calendar_id = 1
       AND x.start_at >= lo AND x.start_at < hi
       AND NOT EXISTS (SELECT 1 FROM slotd_wanted w
                        WHERE w.s = x.start_at AND w.e = x.end_at);

    resized := 0;
    SELECT capacity INTO old_capacity FROM slotd_schedule FOR UPDATE;
    IF old_capacity IS DISTINCT FROM p_capacity THEN
        UPDATE slots x SET capacity = p_capacity
         WHERE x.origin = 'schedule' AND x.calendar_id = 1
           AND x.start_at >= lo AND x.capacity = old_capacity
           AND x.booked <= p_capacity;
        GET DIAGNOSTICS resized = ROW_COUNT;
        INSERT INTO slotd_schedule VALUES (1, p_capacity)
        ON CONFLICT (id) DO UPDATE SET capacity = excluded.capacity;
    END IF;
    RETURN NEXT;
END
$$;
