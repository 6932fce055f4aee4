-- slotd 0011: appointments as iCalendar events (API.md, "iCalendar").
--
-- An appointment's event keeps its UID wherever the appointment moves, and
-- its SEQUENCE counts the moves (RFC 5545 section 3.8.7.4), so that a
-- calendar holding the event takes a moved copy as the newer one.

ALTER TABLE appointments ADD COLUMN sequence integer NOT NULL DEFAULT 0;

-- A move is a change of the appointment's slots, whichever function makes
-- it (slotd_move today).  Booking (an insert) and cancelling (the slots
-- stay) never run the function.
CREATE FUNCTION appointments_bump_sequence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.sequence := OLD.sequence + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER appointments_bump_sequence
    BEFORE UPDATE OF slot_ids ON appointments
    FOR EACH ROW WHEN (OLD.slot_ids IS DISTINCT FROM NEW.slot_ids)
    EXECUTE FUNCTION appointments_bump_sequence();

-- The part after "@" of every event's UID, made once for this database:
-- appointment 42 of two deployments are two events in a calendar that
-- holds both.  It names no host, so that every instance, and a restored
-- copy of the database, gives the same UIDs.
CREATE TABLE slotd_event_domain (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    domain text    NOT NULL
);
INSERT INTO slotd_event_domain (domain)
VALUES (replace(gen_random_uuid()::text, '-', ''));

-- The UID of appointment p_id's event.
CREATE FUNCTION slotd_event_uid(p_id bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'appointment-' || p_id || '@' || d.domain FROM slotd_event_domain d
$$;
