-- slotd 0006: cheaper writes.  Row triggers run only when they have work
-- to do (a quiet worker's update needs no notification; an update that
-- already moved version needs no bump), so a booking by a worker calls no
-- trigger function at all.  The booking statement itself is plain SQL
-- (see db.c, "book_lean").

DROP TRIGGER slots_bump_version ON slots;
CREATE TRIGGER slots_bump_version BEFORE UPDATE ON slots
    FOR EACH ROW WHEN (NEW.version = OLD.version)
    EXECUTE FUNCTION slots_bump_version();

DROP TRIGGER slots_notify ON slots;
CREATE TRIGGER slots_notify AFTER INSERT OR UPDATE OR DELETE ON slots
    FOR EACH ROW
    WHEN (current_setting('slotd.quiet', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION slots_notify();
