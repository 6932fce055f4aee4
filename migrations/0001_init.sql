-- slotd 0001: slots, their version trigger and change notifications.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE slots (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    calendar_id bigint      NOT NULL DEFAULT 1 CHECK (calendar_id >= 1),
    start_at    timestamptz NOT NULL,
    end_at      timestamptz NOT NULL,
    capacity    integer     NOT NULL CHECK (capacity >= 1),
    booked      integer     NOT NULL DEFAULT 0,
    version     bigint      NOT NULL DEFAULT 1,
    origin      text        NOT NULL DEFAULT 'admin'
                            CHECK (origin IN ('schedule', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT slots_time_order CHECK (end_at > start_at),
    -- the database itself refuses an oversold slot
    CONSTRAINT slots_seats CHECK (booked >= 0 AND booked <= capacity),
    CONSTRAINT slots_calendar_start UNIQUE (calendar_id, start_at),
    CONSTRAINT slots_no_overlap EXCLUDE USING gist
        (calendar_id WITH =, tstzrange(start_at, end_at) WITH &&)
);

-- Every change bumps version, so caches can apply changes in any order.
CREATE FUNCTION slots_bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER slots_bump_version BEFORE UPDATE ON slots
    FOR EACH ROW EXECUTE FUNCTION slots_bump_version();

-- Payloads: u,id,calendar,start,end,capacity,booked,version (epoch seconds)
--           d,id,version
--           r               (reload everything)
CREATE FUNCTION slots_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('slotd_slots', 'r');
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('slotd_slots', 'd,' || OLD.id || ',' || OLD.version);
        RETURN NULL;
    END IF;
    PERFORM pg_notify('slotd_slots', concat_ws(',', 'u', NEW.id, NEW.calendar_id,
        floor(extract(epoch FROM NEW.start_at))::bigint,
        floor(extract(epoch FROM NEW.end_at))::bigint,
        NEW.capacity, NEW.booked, NEW.version));
    RETURN NULL;
END
$$;

CREATE TRIGGER slots_notify AFTER INSERT OR UPDATE OR DELETE ON slots
    FOR EACH ROW EXECUTE FUNCTION slots_notify();
CREATE TRIGGER slots_notify_truncate AFTER TRUNCATE ON slots
    FOR EACH STATEMENT EXECUTE FUNCTION slots_notify();

-- Materialise schedule slots; rows that exist or overlap are left alone.
-- Instances generating at once are serialised by the advisory lock.
CREATE FUNCTION slotd_generate_slots(p_starts bigint[], p_ends bigint[],
                                     p_capacity integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('slotd_generate_slots'));
    INSERT INTO slots (calendar_id, start_at, end_at, capacity, origin)
    SELECT 1, to_timestamp(g.s), to_timestamp(g.e), p_capacity, 'schedule'
      FROM unnest(p_starts, p_ends) AS g(s, e)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
