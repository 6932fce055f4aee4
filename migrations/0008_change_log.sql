-- slotd 0008: a change log that cannot be lost.  Workers announce their
-- changes after the commit (migration 0004), so a worker killed, or a
-- connection dropped, between the commit and the announcement left other
-- instances with the old seats until the slot changed again.  Now every
-- statement that changes slots also writes the ids it changed into
-- slot_changes, in its own transaction: the workers' statements in
-- themselves (see db.c), every other session's through the triggers below.
-- Each syncer reads, a few times a second, the rows of the transactions
-- that its previous read could not see (by snapshot, so transactions that
-- commit out of order are not missed), and re-reads those slots.  Syncers
-- prune rows every instance has certainly read.

CREATE TABLE slot_changes (
    xid      xid8     NOT NULL DEFAULT pg_current_xact_id(),
    slot_ids bigint[] NOT NULL
);
CREATE INDEX slot_changes_xid ON slot_changes (xid);

-- One row per statement of every session but the workers' quiet ones (an
-- admin's SQL, the schedule, hold expiry).  The workers' statements log
-- their slots in the statement itself: a trigger costs a booking batch
-- about 7 % of its rate, a clause of the statement nothing measurable.
CREATE FUNCTION slots_log_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO slot_changes (slot_ids)
    SELECT array_agg(id) FROM changed HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE TRIGGER slots_log_insert AFTER INSERT ON slots
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    WHEN (current_setting('slotd.quiet', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION slots_log_changes();
CREATE TRIGGER slots_log_update AFTER UPDATE ON slots
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    WHEN (current_setting('slotd.quiet', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION slots_log_changes();
CREATE TRIGGER slots_log_delete AFTER DELETE ON slots
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    WHEN (current_setting('slotd.quiet', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION slots_log_changes();

-- The slots changed by transactions that snapshot p did not see, as they
-- are now (NULL columns: deleted), and the snapshot they were read in,
-- which is the next call's p.  One row with a NULL id when none changed.
CREATE FUNCTION slotd_changes_since(p pg_snapshot)
RETURNS TABLE (snapshot text, id bigint, calendar_id bigint,
               start_at bigint, end_at bigint, capacity integer,
               booked integer, version bigint)
LANGUAGE sql STABLE AS $$
    WITH c AS (
        SELECT DISTINCT unnest(slot_ids) AS id FROM slot_changes
         WHERE xid >= pg_snapshot_xmax(p)
            OR xid = ANY (ARRAY(SELECT pg_snapshot_xip(p))))
    SELECT pg_current_snapshot()::text, c.id, s.calendar_id,
           slotd_epoch(s.start_at), slotd_epoch(s.end_at), s.capacity,
           s.booked, s.version
      FROM (SELECT 1) one
      LEFT JOIN c ON true
      LEFT JOIN slots s ON s.id = c.id
$$;
