-- slotd 0014: a webhook hears of what happens after it is subscribed.
--
-- Events are queued for webhooks when they are numbered, and without an
-- enabled webhook nothing numbers them until GET /events reads: the first
-- webhook of a deployment that had none was queued every event still
-- kept (up to [events] keep_days of them), and a webhook enabled again
-- every event not numbered while it was off.  A webhook now takes the
-- events of changes made from the time it was created, or last enabled;
-- what happened before is for GET /events to tell.

-- Webhooks subscribed before this migration keep every event they were
-- owed: theirs listen since ever.
ALTER TABLE slotd_webhooks
    ADD COLUMN listening_since timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE slotd_webhooks ALTER COLUMN listening_since SET DEFAULT now();

-- Numbering also takes at most p_limit events now, the oldest first
-- (NULL: all of them), and says how many deliveries it queued.  A courier
-- numbers about as many as it may claim: while bookings pour in and it
-- rests between statements, each claim wrote a delivery row for every
-- event committed since the last one, thousands of rows in one statement
-- beside the bookings.  Ids still follow the order of commits: what is
-- left unnumbered is numbered later, with larger ids.  The events are
-- found through the index of unnumbered ones, not by a scan of every
-- event kept.
DROP FUNCTION slotd_events_number();
CREATE FUNCTION slotd_events_number_queued(p_limit integer,
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
    PERFORM pg_advisory_xact_lock(hashtextextended('slotd_events', 0));
    SELECT coalesce(max(id), 0) INTO last FROM slotd_events;
    WITH due AS (SELECT seq, last + row_number() OVER (ORDER BY seq) AS id
                   FROM (SELECT seq FROM slotd_events WHERE id IS NULL
                          ORDER BY seq LIMIT p_limit) oldest),
    numbered AS (UPDATE slotd_events e SET id = due.id
                   FROM due WHERE e.seq = due.seq AND e.id IS NULL
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

-- Number the committed events not numbered yet (at most p_limit, NULL:
-- all), queue them for their webhooks; how many it numbered.
CREATE FUNCTION slotd_events_number(p_limit integer DEFAULT NULL)
RETURNS integer
LANGUAGE sql AS $$
    SELECT numbered FROM slotd_events_number_queued(p_limit)
$$;

-- The age of the oldest event some webhook waits for: an unnumbered one
-- counts only if an enabled webhook will be sent it (events before a
-- webhook listened, or of types nobody takes, are not waited for).  The
-- first such in writing order stands for the oldest.
CREATE OR REPLACE FUNCTION slotd_events_backlog() RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT coalesce(extract(epoch FROM now() - min(at))::float8, 0)
      FROM (SELECT min(e.at) AS at
              FROM slotd_deliveries d JOIN slotd_events e
                ON e.id = d.event_id
             WHERE d.state = 'pending'
            UNION ALL
            (SELECT e.at FROM slotd_events e
              WHERE e.id IS NULL
                AND EXISTS (SELECT 1 FROM slotd_webhooks w
                             WHERE w.enabled AND e.type = ANY (w.events)
                               AND e.at >= w.listening_since)
              ORDER BY e.seq LIMIT 1)) x
$$;

-- A claim numbers events, p_limit at a time, until it has queued as many
-- deliveries as it may claim, or none is left unnumbered, or it has
-- numbered 4,096 of them: events no webhook takes
-- (before a webhook listened, or of types nobody subscribed to) are
-- numbered in bulk, and a statement stays short.
CREATE OR REPLACE FUNCTION slotd_deliveries_claim(p_limit integer, p_lease integer)
RETURNS SETOF slotd_delivery_result
LANGUAGE plpgsql
-- The due index's order, read as far as the claim takes: a backlog that
-- grew faster than the statistics must not be sorted whole each time.
SET enable_bitmapscan = off
AS $$
DECLARE
    step record;
    got  integer := 0;
    seen integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM slotd_webhooks WHERE enabled) THEN
        RETURN;
    END IF;
    LOOP
        SELECT * INTO step FROM slotd_events_number_queued(p_limit);
        got := got + step.queued;
        seen := seen + step.numbered;
        EXIT WHEN step.numbered < p_limit OR got >= p_limit OR seen >= 4096;
    END LOOP;
    RETURN QUERY
    WITH due AS (SELECT d.webhook_id, d.event_id
                   FROM slotd_deliveries d
                  WHERE d.state = 'pending' AND d.next_at <= now()
                    AND d.webhook_id = ANY (ARRAY(
                            SELECT id FROM slotd_webhooks WHERE enabled))
                  ORDER BY d.next_at, d.event_id
                  LIMIT p_limit
                    FOR UPDATE OF d SKIP LOCKED),
    claimed AS (UPDATE slotd_deliveries d
                   SET attempts = d.attempts + 1,
                       next_at = now() + p_lease * interval '1 second'
                  FROM due
                 WHERE d.webhook_id = due.webhook_id
                   AND d.event_id = due.event_id
                RETURNING d.webhook_id, d.event_id, d.attempts)
    SELECT r.*, w.id, w.url, w.secret, c.attempts
      FROM claimed c
      JOIN slotd_events e ON e.id = c.event_id
      JOIN slotd_webhooks w ON w.id = c.webhook_id,
           LATERAL slotd_event_row(e) r
     ORDER BY e.id;
END
$$;

CREATE OR REPLACE FUNCTION slotd_webhook_update(p_id bigint, p_url text,
                                                p_events text[],
                                                p_set_description boolean,
                                                p_description text,
                                                p_enabled boolean)
RETURNS SETOF slotd_webhook_result
LANGUAGE sql AS $$
    UPDATE slotd_webhooks w
       SET url = coalesce(p_url, w.url),
           events = coalesce(p_events, w.events),
           description = CASE WHEN p_set_description THEN p_description
                              ELSE w.description END,
           enabled = coalesce(p_enabled, w.enabled),
           listening_since = CASE WHEN p_enabled AND NOT w.enabled
                                  THEN now() ELSE w.listening_since END,
           updated_at = now()
     WHERE w.id = p_id
    RETURNING (slotd_webhook_row(w, false)).*
$$;
