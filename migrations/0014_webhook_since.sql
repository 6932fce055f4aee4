-- slotd 0014: a webhook hears of what happens after it is subscribed.
--
-- Events are queued for webhooks when they are numbered, and without an
-- enabled webhook nothing numbers them until GET /events reads: the first
-- webhook of a deployment that had none was queued every event still
-- kept (up to [events] keep_days of them), and a webhook enabled again
-- every event not numbered while it was off.  A webhook now takes the
-- events of changes made from the time it was created, or last enabled;
-- what happened before is for GET /events to tell.

ALTER TABLE slotd_webhooks
    ADD COLUMN listening_since timestamptz NOT NULL DEFAULT now();

CREATE OR REPLACE FUNCTION slotd_events_number() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM slotd_events WHERE id IS NULL) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('slotd_events', 0));
    SELECT coalesce(max(id), 0) INTO last FROM slotd_events;
    WITH due AS (SELECT seq, last + row_number() OVER (ORDER BY seq) AS id
                   FROM slotd_events WHERE id IS NULL),
    numbered AS (UPDATE slotd_events e SET id = due.id
                   FROM due WHERE e.seq = due.seq
                 RETURNING e.id, e.type, e.at),
    queued AS (INSERT INTO slotd_deliveries (webhook_id, event_id)
               SELECT w.id, numbered.id
                 FROM numbered JOIN slotd_webhooks w
                   ON w.enabled AND numbered.type = ANY (w.events)
                  AND numbered.at >= w.listening_since)
    SELECT count(*) INTO n FROM numbered;
    RETURN n;
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
