-- slotd 0016: numbering events does not depend on fresh statistics.
--
-- 0014's numbering joined the events it takes to the table by seq, with
-- "id IS NULL" on both sides.  After a burst (thousands of events since
-- the table was last analyzed, when hardly any were unnumbered), the
-- planner expected one such row, scanned the unnumbered events and, for
-- each, every event it takes: 5,000 events took 9 s and 50,000 never
-- ended, so GET /events (which numbers everything first) ran into the
-- workers' statement_timeout until autovacuum analyzed the table.  The
-- events are now found again by their tuple id, which only numbering
-- changes and numbering runs one at a time: whatever the estimates, a
-- TID scan per event, or one hash join for a large batch (50,000 events
-- in 0.2 s).
CREATE OR REPLACE FUNCTION slotd_events_number_queued(p_limit integer,
                                                      OUT numbered integer,
                                                      OUT queued integer)
LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
BEGIN
    numbered := 0;
    queued := 0;
    IF NOT EXISTS (SELECT 1 FROM slotd_events WHERE id IS NULL) THEN
        RETURN;
    END IF;
    -- After the lock, each statement sees every numbering committed.
    PERFORM pg_advisory_xact_lock(hashtextextended('slotd_events', 0));
    SELECT coalesce(max(id), 0) INTO last FROM slotd_events;
    WITH due AS (SELECT tid, last + row_number() OVER (ORDER BY seq) AS id
                   FROM (SELECT ctid AS tid, seq FROM slotd_events
                          WHERE id IS NULL
                          ORDER BY seq LIMIT p_limit) oldest),
    numbered AS (UPDATE slotd_events e SET id = due.id
                   FROM due WHERE e.ctid = due.tid
                 RETURNING e.id, e.type, e.at),
    queued AS (INSERT INTO slotd_deliveries (webhook_id, event_id)
               SELECT w.id, numbered.id
                 FROM numbered JOIN slotd_webhooks w
                   ON w.enabled AND numbered.type = ANY (w.events)
                  AND numbered.at >= w.listening_since
               RETURNING 1)
    SELECT (SELECT count(*) FROM numbered), (SELECT count(*) FROM queued)
      INTO numbered, queued;
END
$$;
