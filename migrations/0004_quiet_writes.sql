-- slotd 0004: commits that NOTIFY are serialised by PostgreSQL (a global
-- lock held through the commit's WAL flush), which held bookings to a
-- few thousand a second.  slotd's workers now connect with
-- slotd.quiet = on: their statements' row triggers stay silent, and the
-- worker announces the new slot states itself right after, in a separate
-- transaction that commits without waiting for the flush.  Every other
-- session (an admin's SQL, the syncer) still notifies from the trigger.

DROP INDEX IF EXISTS appointments_slots;

CREATE OR REPLACE FUNCTION slots_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    sent bigint;
BEGIN
    IF current_setting('slotd.quiet', true) = 'on' THEN
        RETURN NULL;
    END IF;
    sent := floor(extract(epoch FROM clock_timestamp()) * 1000);
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

-- Payloads joined by ';' in one notification, committed asynchronously:
-- losing one to a crash only delays other caches until their next change
-- or resync; the seats themselves were committed durably before.
CREATE FUNCTION slotd_announce(p_payloads text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_notify('slotd_slots', p_payloads);
END
$$;
