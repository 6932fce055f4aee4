-- slotd 0012: events (API.md "Events and webhooks").
--
-- The transactions that book, cancel and move appointments, and those
-- that move waitlist entries along, write their events into an outbox,
-- slotd_events, by triggers on appointments and on the waitlist: in the
-- same transaction as the change, at no extra round trip.  An event's
-- place in the outbox (seq) is the order of writing, which is not the
-- order of commits; its id, which clients page by, is given after the
-- commit by slotd_events_number, one caller at a time, so that an id once
-- seen is never followed by a smaller one.  Numbering an event also
-- queues it for every enabled webhook subscribed to its type; couriers
-- claim due deliveries with FOR UPDATE SKIP LOCKED and record each
-- attempt.

-- ---- the outbox ----

-- An event and its appointment, or its waitlist entry (entry_id), as the
-- change left it.
CREATE TABLE slotd_events (
    seq              bigint      GENERATED ALWAYS AS IDENTITY,
    id               bigint,
    type             text        NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    appointment_id   bigint,
    calendar_id      bigint,
    slot_ids         bigint[]    NOT NULL,
    start_at         timestamptz,
    end_at           timestamptz,
    status           text        NOT NULL,
    name             text,
    email            text,
    note             text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    cancelled_at     timestamptz,
    cancel_reason    text,
    entry_id         uuid,
    hold_id          uuid,
    offer_expires_at timestamptz,
    CHECK ((appointment_id IS NULL) <> (entry_id IS NULL))
);
-- A booking's event costs one index entry: the partial index of those not
-- numbered yet.  Numbering moves it to the index of ids.
CREATE INDEX slotd_events_unnumbered ON slotd_events (seq) WHERE id IS NULL;
CREATE UNIQUE INDEX slotd_events_id ON slotd_events (id) WHERE id IS NOT NULL;

CREATE FUNCTION slotd_appointments_booked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO slotd_events (type, appointment_id, calendar_id, slot_ids,
                              start_at, end_at, status, name, email, note,
                              created_at, updated_at, cancelled_at,
                              cancel_reason)
    SELECT 'appointment.booked', n.id, s.calendar_id, n.slot_ids,
           n.start_at, n.end_at, n.status, n.name, n.email, n.note,
           n.created_at, n.updated_at, n.cancelled_at, n.cancel_reason
      FROM booked n LEFT JOIN slots s ON s.id = n.slot_ids[1];
    RETURN NULL;
END
$$;
CREATE TRIGGER appointments_booked AFTER INSERT ON appointments
    REFERENCING NEW TABLE AS booked
    FOR EACH STATEMENT EXECUTE FUNCTION slotd_appointments_booked();

-- A cancel, or a move (slots changed while booked); other updates are
-- not events.
CREATE FUNCTION slotd_appointments_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO slotd_events (type, appointment_id, calendar_id, slot_ids,
                              start_at, end_at, status, name, email, note,
                              created_at, updated_at, cancelled_at,
                              cancel_reason)
    SELECT CASE WHEN n.status = 'cancelled' THEN 'appointment.cancelled'
                ELSE 'appointment.rescheduled' END,
           n.id, s.calendar_id, n.slot_ids, n.start_at, n.end_at, n.status,
           n.name, n.email, n.note, n.created_at, n.updated_at,
           n.cancelled_at, n.cancel_reason
      FROM changed_to n JOIN changed_from o ON o.id = n.id
      LEFT JOIN slots s ON s.id = n.slot_ids[1]
     WHERE (n.status = 'cancelled' AND o.status <> 'cancelled')
        OR (n.status = 'booked' AND n.slot_ids <> o.slot_ids);
    RETURN NULL;
END
$$;
CREATE TRIGGER appointments_changed AFTER UPDATE ON appointments
    REFERENCING OLD TABLE AS changed_from NEW TABLE AS changed_to
    FOR EACH STATEMENT EXECUTE FUNCTION slotd_appointments_changed();

-- A cancel is one update, its reason included, so that the event carries
-- the reason (0010 set it in a second update).
CREATE OR REPLACE FUNCTION slotd_cancel_ruled(p_id bigint, p_owner text,
                                              p_admin boolean,
                                              p_reason text)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    a appointments;
BEGIN
    SELECT * INTO a FROM appointments
     WHERE id = p_id AND (p_admin OR owner = p_owner) FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM slotd_rows('not-found', NULL, NULL, NULL,
            '{}');
        RETURN;
    ELSIF a.status = 'cancelled' THEN
        RETURN QUERY SELECT * FROM slotd_rows('already-cancelled',
            a.id::text, a.cancelled_at, a.slot_ids, '{}');
        RETURN;
    ELSIF coalesce(slotd_cancel_closed(a, p_admin), false) THEN
        RETURN QUERY SELECT * FROM slotd_rows('cancel-window-closed',
            a.id::text, NULL, a.slot_ids, '{}');
        RETURN;
    END IF;
    -- The appointment first: its event comes before the offers of the
    -- seats it frees.
    PERFORM 1 FROM slots WHERE id = ANY (a.slot_ids) ORDER BY id FOR UPDATE;
    UPDATE appointments SET status = 'cancelled', cancelled_at = now(),
                            updated_at = now(), cancel_reason = p_reason
     WHERE id = a.id;
    UPDATE slots SET booked = booked - 1 WHERE id = ANY (a.slot_ids);
    RETURN QUERY SELECT * FROM slotd_rows('cancelled', a.id::text, now(),
        a.slot_ids, a.slot_ids);
END
$$;
DROP FUNCTION slotd_cancel(bigint, text, boolean);

-- ---- webhooks and deliveries ----

CREATE TABLE slotd_webhooks (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url         text        NOT NULL,
    events      text[]      NOT NULL,
    description text,
    secret      text        NOT NULL,
    enabled     boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- An event to send to a webhook.  attempts counts the claims; a claim
-- moves next_at to the end of its lease, so that a courier that dies
-- mid-delivery leaves it due again then.
CREATE TABLE slotd_deliveries (
    webhook_id bigint      NOT NULL REFERENCES slotd_webhooks ON DELETE CASCADE,
    event_id   bigint      NOT NULL,         -- slotd_events.id
    state      text        NOT NULL DEFAULT 'pending'
                           CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts   integer     NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (webhook_id, event_id)
);
-- Due deliveries in the order they are claimed: a claim reads no more of
-- them than it takes, however long the backlog.
CREATE INDEX slotd_deliveries_due ON slotd_deliveries (next_at, event_id)
    WHERE state = 'pending';
CREATE INDEX slotd_deliveries_event ON slotd_deliveries (event_id);

CREATE TABLE slotd_delivery_attempts (
    webhook_id  bigint      NOT NULL REFERENCES slotd_webhooks ON DELETE CASCADE,
    event_id    bigint      NOT NULL,
    attempt     integer     NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    error       text,
    next_at     timestamptz,
    PRIMARY KEY (webhook_id, event_id, attempt)
);
CREATE INDEX slotd_delivery_attempts_event
    ON slotd_delivery_attempts (event_id);
CREATE INDEX slotd_delivery_attempts_latest
    ON slotd_delivery_attempts (webhook_id, at DESC, event_id DESC,
                                attempt DESC);

-- Number the committed events not numbered yet, in the order they were
-- written, after the largest id given; queue them for their webhooks.
-- One caller at a time (the lock is held until its commit, after which
-- the next caller sees these ids): an event that commits later gets a
-- larger id than every id already seen.  Returns how many it numbered.
CREATE FUNCTION slotd_events_number() RETURNS integer
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
                 RETURNING e.id, e.type),
    queued AS (INSERT INTO slotd_deliveries (webhook_id, event_id)
               SELECT w.id, numbered.id
                 FROM numbered JOIN slotd_webhooks w
                   ON w.enabled AND numbered.type = ANY (w.events))
    SELECT count(*) INTO n FROM numbered;
    RETURN n;
END
$$;

-- An event as the API shows it: its appointment's columns as
-- slotd_appointment_result has them (an entry's slots, status and times
-- among them), then its own, then those only an entry has.
CREATE TYPE slotd_event_result AS (
    id bigint, slot_ids bigint[], start_s bigint, end_s bigint,
    status text, name text, email text, note text, created_s bigint,
    calendar_id bigint, updated_s bigint, cancelled_s bigint,
    cancel_reason text, cursor text,
    event_id bigint, event_type text, event_s bigint,
    entry_id uuid, entry_hold_id uuid, entry_offer_expires_s bigint);

CREATE FUNCTION slotd_event_row(e slotd_events)
RETURNS slotd_event_result
LANGUAGE sql STABLE AS $$
    SELECT e.appointment_id, e.slot_ids, slotd_epoch(e.start_at),
           slotd_epoch(e.end_at), e.status, e.name, e.email, e.note,
           slotd_epoch(e.created_at), e.calendar_id,
           slotd_epoch(e.updated_at), slotd_epoch(e.cancelled_at),
           e.cancel_reason, e.id::text, e.id, e.type, slotd_epoch(e.at),
           e.entry_id, e.hold_id, slotd_epoch(e.offer_expires_at)
$$;

-- Events after p_after, oldest first, at most p_limit of them.
CREATE FUNCTION slotd_events_page(p_after bigint, p_limit integer)
RETURNS SETOF slotd_event_result
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM slotd_events_number();
    RETURN QUERY SELECT r.* FROM slotd_events e,
                         LATERAL slotd_event_row(e) r
                  WHERE e.id > p_after ORDER BY e.id LIMIT p_limit;
END
$$;

-- A delivery as a courier sends it: the event, then the webhook's url
-- and secret, and which attempt this is.
CREATE TYPE slotd_delivery_result AS (
    id bigint, slot_ids bigint[], start_s bigint, end_s bigint,
    status text, name text, email text, note text, created_s bigint,
    calendar_id bigint, updated_s bigint, cancelled_s bigint,
    cancel_reason text, cursor text,
    event_id bigint, event_type text, event_s bigint,
    entry_id uuid, entry_hold_id uuid, entry_offer_expires_s bigint,
    webhook_id bigint, url text, secret text, attempt integer);

-- Number what is new, then claim at most p_limit due deliveries of
-- enabled webhooks for p_lease seconds: no other courier takes them
-- meanwhile, and they are due again when the lease ends unresolved.
-- Without an enabled webhook there is nothing to do: events are numbered
-- when GET /events reads them.
CREATE FUNCTION slotd_deliveries_claim(p_limit integer, p_lease integer)
RETURNS SETOF slotd_delivery_result
LANGUAGE plpgsql
-- The due index's order, read as far as the claim takes: a backlog that
-- grew faster than the statistics must not be sorted whole each time.
SET enable_bitmapscan = off
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM slotd_webhooks WHERE enabled) THEN
        RETURN;
    END IF;
    PERFORM slotd_events_number();
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

-- What attempts of deliveries came to, one array element each: the
-- webhook, the event, which attempt, an HTTP status or an error; p_retry
-- seconds until the next attempt (NULL: none, it was delivered or has no
-- attempt left); p_gone disables the webhook (410).  An attempt whose
-- lease ran out, and that another courier has claimed again since, is
-- only recorded; one of a webhook deleted meanwhile is forgotten.
CREATE FUNCTION slotd_deliveries_done(p_webhooks bigint[], p_events bigint[],
                                      p_attempts integer[],
                                      p_statuses integer[], p_errors text[],
                                      p_retries integer[], p_gone boolean[])
RETURNS integer
LANGUAGE sql AS $$
    WITH r AS (SELECT r.w AS webhook_id, r.e AS event_id, r.a AS attempt,
                      r.s AS status, r.err AS error,
                      now() + r.retry * interval '1 second' AS next_at,
                      r.gone
                 FROM unnest(p_webhooks, p_events, p_attempts, p_statuses,
                             p_errors, p_retries, p_gone)
                      AS r(w, e, a, s, err, retry, gone)
                 JOIN slotd_webhooks w ON w.id = r.w
                  FOR KEY SHARE OF w),
    recorded AS (INSERT INTO slotd_delivery_attempts (webhook_id, event_id,
                                                      attempt, status_code,
                                                      error, next_at)
                 SELECT webhook_id, event_id, attempt, status, error, next_at
                   FROM r
                 ON CONFLICT DO NOTHING),
    settled AS (UPDATE slotd_deliveries d
                   SET state = CASE WHEN r.status BETWEEN 200 AND 299
                                    THEN 'delivered'
                                    WHEN r.next_at IS NULL THEN 'failed'
                                    ELSE 'pending' END,
                       next_at = coalesce(r.next_at, now())
                  FROM r
                 WHERE d.webhook_id = r.webhook_id
                   AND d.event_id = r.event_id
                   AND d.attempts = r.attempt AND d.state = 'pending'),
    disabled AS (UPDATE slotd_webhooks w
                    SET enabled = false, updated_at = now()
                  WHERE w.id IN (SELECT webhook_id FROM r WHERE gone))
    SELECT count(*)::integer FROM r
$$;

-- The age in seconds of the oldest committed event not yet delivered to
-- every webhook that wants it (0: none; events not numbered yet count
-- while some webhook is enabled).
CREATE FUNCTION slotd_events_backlog() RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT coalesce(extract(epoch FROM now() - min(at))::float8, 0)
      FROM (SELECT min(e.at) AS at
              FROM slotd_deliveries d JOIN slotd_events e
                ON e.id = d.event_id
             WHERE d.state = 'pending'
            UNION ALL
            SELECT min(at) FROM slotd_events
             WHERE id IS NULL
               AND EXISTS (SELECT 1 FROM slotd_webhooks WHERE enabled)) x
$$;

-- Delete what is older than p_days: numbered events no webhook still
-- waits for, their deliveries and attempts; oldest first, at most 10,000
-- events a call.  Returns how many events went.
CREATE FUNCTION slotd_events_prune(p_days integer) RETURNS bigint
LANGUAGE sql AS $$
    WITH oldest AS (SELECT id, at FROM slotd_events WHERE id IS NOT NULL
                     ORDER BY id LIMIT 10000),
    old AS (SELECT o.id FROM oldest o
             WHERE o.at < now() - make_interval(days => p_days)
               AND NOT EXISTS (SELECT 1 FROM slotd_deliveries d
                                WHERE d.event_id = o.id
                                  AND d.state = 'pending')),
    attempts AS (DELETE FROM slotd_delivery_attempts x USING old
                  WHERE x.event_id = old.id),
    deliveries AS (DELETE FROM slotd_deliveries x USING old
                    WHERE x.event_id = old.id),
    events AS (DELETE FROM slotd_events x USING old WHERE x.id = old.id
               RETURNING 1)
    SELECT count(*) FROM events
$$;

-- ---- webhooks as the API shows them ----

CREATE TYPE slotd_webhook_result AS (
    id bigint, url text, events text[], description text, enabled boolean,
    created_s bigint, updated_s bigint, secret text);

CREATE FUNCTION slotd_webhook_row(w slotd_webhooks, p_secret boolean)
RETURNS slotd_webhook_result
LANGUAGE sql STABLE AS $$
    SELECT w.id, w.url, w.events, w.description, w.enabled,
           slotd_epoch(w.created_at), slotd_epoch(w.updated_at),
           CASE WHEN p_secret THEN w.secret END
$$;

CREATE FUNCTION slotd_webhook_create(p_url text, p_events text[],
                                     p_description text, p_secret text)
RETURNS SETOF slotd_webhook_result
LANGUAGE sql AS $$
    INSERT INTO slotd_webhooks (url, events, description, secret)
    VALUES (p_url, p_events, p_description, p_secret)
    RETURNING (slotd_webhook_row(slotd_webhooks, true)).*
$$;

-- Webhooks by id (p_id NULL: all of them).
CREATE FUNCTION slotd_webhook_get(p_id bigint)
RETURNS SETOF slotd_webhook_result
LANGUAGE sql STABLE AS $$
    SELECT (slotd_webhook_row(w, false)).* FROM slotd_webhooks w
     WHERE p_id IS NULL OR w.id = p_id ORDER BY w.id
$$;

-- Change what is given (NULL: kept; p_set_description says whether
-- p_description, NULL included, is given).
CREATE FUNCTION slotd_webhook_update(p_id bigint, p_url text,
                                     p_events text[],
                                     p_set_description boolean,
                                     p_description text, p_enabled boolean)
RETURNS SETOF slotd_webhook_result
LANGUAGE sql AS $$
    UPDATE slotd_webhooks w
       SET url = coalesce(p_url, w.url),
           events = coalesce(p_events, w.events),
           description = CASE WHEN p_set_description THEN p_description
                              ELSE w.description END,
           enabled = coalesce(p_enabled, w.enabled),
           updated_at = now()
     WHERE w.id = p_id
    RETURNING (slotd_webhook_row(w, false)).*
$$;

CREATE FUNCTION slotd_webhook_delete(p_id bigint)
RETURNS SETOF slotd_webhook_result
LANGUAGE sql AS $$
    DELETE FROM slotd_webhooks w WHERE w.id = p_id
    RETURNING (slotd_webhook_row(w, false)).*
$$;

-- The latest p_limit attempts of a webhook's deliveries, newest first;
-- no row when there is no such webhook, one row of NULLs when it has
-- made no attempt yet.
CREATE TYPE slotd_attempt_result AS (
    event_id bigint, attempt integer, at_s bigint, status_code integer,
    error text, next_s bigint);

CREATE FUNCTION slotd_webhook_attempts(p_id bigint, p_limit integer)
RETURNS SETOF slotd_attempt_result
LANGUAGE sql STABLE AS $$
    SELECT a.event_id, a.attempt, slotd_epoch(a.at), a.status_code,
           a.error, slotd_epoch(a.next_at)
      FROM slotd_webhooks w
      LEFT JOIN LATERAL (SELECT * FROM slotd_delivery_attempts x
                          WHERE x.webhook_id = w.id
                          ORDER BY x.at DESC, x.event_id DESC,
                                   x.attempt DESC
                          LIMIT p_limit) a ON true
     WHERE w.id = p_id
$$;

-- ---- the waitlist (API.md "Waitlist") ----
--
-- A parent waits for a full slot (or run of slots).  Whatever frees seats
-- (a cancel, a move away, a hold released or expired, a capacity raised)
-- updates the slot's row, and the row trigger slots_freed offers the free
-- seats, in that same transaction, to the longest-waiting entries whose
-- run fits: a hold each, for slotd.offer_ttl seconds (the workers' and
-- syncer's connections set it from [holds] ttl_seconds).  No booking can
-- take a freed seat while somebody waits for it.  When the offer's hold
-- goes, the entry is booked (the hold became an appointment) or expired
-- (it ran out or was given back), and its seats pass to the next entry.
-- Lock order: slots, then entries, as every writer of slots does.

CREATE TABLE slotd_waitlist (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slot_ids         bigint[]    NOT NULL
                                 CHECK (cardinality(slot_ids) BETWEEN 1 AND 5),
    owner            text        NOT NULL DEFAULT '',
    name             text,
    email            text,
    status           text        NOT NULL DEFAULT 'waiting'
                     CHECK (status IN ('waiting', 'offered', 'booked',
                                       'expired', 'left')),
    hold_id          uuid,
    offer_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slotd_waitlist_waiting ON slotd_waitlist USING gin (slot_ids)
    WHERE status = 'waiting';
CREATE INDEX slotd_waitlist_queue ON slotd_waitlist ((slot_ids[1]),
                                                     created_at, id)
    WHERE status = 'waiting';
CREATE INDEX slotd_waitlist_hold ON slotd_waitlist (hold_id)
    WHERE status = 'offered';
-- A token's subject waits once for a slot (anonymous entries may repeat).
CREATE UNIQUE INDEX slotd_waitlist_once ON slotd_waitlist (owner,
                                                           (slot_ids[1]))
    WHERE status IN ('waiting', 'offered') AND owner <> '';

-- Offer slot p_slot's free seats to the entries waiting for it, longest
-- waiting first, as long as it has one; an entry whose other slots are
-- full (or whose run has begun) waits on.
CREATE FUNCTION slotd_waitlist_offer(p_slot bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    w slotd_waitlist;
    hold uuid;
    ttl interval := make_interval(secs => coalesce(nullif(
        current_setting('slotd.offer_ttl', true), ''), '300')::integer);
BEGIN
    FOR w IN SELECT * FROM slotd_waitlist
              WHERE status = 'waiting' AND slot_ids @> ARRAY[p_slot]
              ORDER BY created_at, id FOR UPDATE
    LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM slots WHERE id = p_slot
                                 AND booked < capacity);
        PERFORM 1 FROM slots WHERE id = ANY (w.slot_ids) ORDER BY id
            FOR UPDATE;
        CONTINUE WHEN EXISTS (SELECT 1 FROM slots
                               WHERE id = ANY (w.slot_ids)
                                 AND (booked >= capacity OR
                                      start_at <= now()));
        INSERT INTO holds (slot_ids, owner, expires_at)
        VALUES (w.slot_ids, w.owner, now() + ttl) RETURNING id INTO hold;
        UPDATE slots SET booked = booked + 1 WHERE id = ANY (w.slot_ids);
        UPDATE slotd_waitlist SET status = 'offered', hold_id = hold,
                                  offer_expires_at = now() + ttl,
                                  updated_at = now()
         WHERE id = w.id;
        -- The statement that freed p_slot answers for it; the other
        -- slots of a longer run reach the instances through the log.
        IF cardinality(w.slot_ids) > 1 THEN
            INSERT INTO slot_changes (slot_ids) VALUES (w.slot_ids);
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION slotd_slot_freed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM slotd_waitlist_offer(NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER slots_freed AFTER UPDATE OF booked, capacity ON slots
    FOR EACH ROW WHEN (NEW.booked < OLD.booked OR NEW.capacity > OLD.capacity)
    EXECUTE FUNCTION slotd_slot_freed();

-- An offer's hold is gone: booked when it became an appointment in this
-- transaction, expired otherwise (it ran out, or was given back).
CREATE FUNCTION slotd_hold_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE slotd_waitlist w
       SET status = CASE WHEN EXISTS (
                             SELECT 1 FROM appointments a
                              WHERE a.slot_ids = OLD.slot_ids
                                AND a.owner = OLD.owner
                                AND a.created_at = now())
                         THEN 'booked' ELSE 'expired' END,
           updated_at = now()
     WHERE w.hold_id = OLD.id AND w.status = 'offered';
    RETURN NULL;
END
$$;
CREATE TRIGGER holds_gone AFTER DELETE ON holds
    FOR EACH ROW EXECUTE FUNCTION slotd_hold_gone();

-- waitlist.offered and waitlist.expired.
CREATE FUNCTION slotd_waitlist_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO slotd_events (type, calendar_id, slot_ids, status,
                              created_at, updated_at, entry_id, hold_id,
                              offer_expires_at)
    SELECT 'waitlist.' || n.status, s.calendar_id, n.slot_ids, n.status,
           n.created_at, n.updated_at, n.id, n.hold_id, n.offer_expires_at
      FROM changed_to n JOIN changed_from o ON o.id = n.id
      LEFT JOIN slots s ON s.id = n.slot_ids[1]
     WHERE n.status <> o.status AND n.status IN ('offered', 'expired');
    RETURN NULL;
END
$$;
CREATE TRIGGER waitlist_changed AFTER UPDATE ON slotd_waitlist
    REFERENCING OLD TABLE AS changed_from NEW TABLE AS changed_to
    FOR EACH STATEMENT EXECUTE FUNCTION slotd_waitlist_changed();

-- An entry as the API shows it; outcome says what a call came to (the
-- entry's columns NULL when it was refused).  position counts the waiting
-- entries of its first slot ahead of it, + 1; NULL once it waits no more.
CREATE TYPE slotd_entry_result AS (
    outcome text, entry_id uuid, slot_ids bigint[], status text,
    entry_position integer, entry_hold_id uuid,
    entry_offer_expires_s bigint, created_s bigint, calendar_id bigint);

CREATE FUNCTION slotd_entry_row(p_outcome text, w slotd_waitlist)
RETURNS slotd_entry_result
LANGUAGE sql STABLE AS $$
    SELECT p_outcome, w.id, w.slot_ids, w.status,
           CASE WHEN w.status = 'waiting' THEN 1 + (
               SELECT count(*) FROM slotd_waitlist x
                WHERE x.status = 'waiting'
                  AND x.slot_ids[1] = w.slot_ids[1]
                  AND (x.created_at, x.id) < (w.created_at, w.id))::integer
           END,
           w.hold_id, slotd_epoch(w.offer_expires_at),
           slotd_epoch(w.created_at),
           (SELECT calendar_id FROM slots WHERE id = w.slot_ids[1])
$$;

CREATE FUNCTION slotd_entry_refused(p_outcome text)
RETURNS SETOF slotd_entry_result
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_outcome, NULL::uuid, NULL::bigint[], NULL, NULL::integer,
           NULL::uuid, NULL::bigint, NULL::bigint, NULL::bigint
$$;

-- Wait for p_count consecutive slots from p_slot, which must be full (a
-- free run is booked instead), under the calendar's rules.  Outcomes:
-- waiting, slot-not-found, not-consecutive, too-many-slots,
-- outside-booking-window, slot-in-past, slot-available, already-waiting.
CREATE FUNCTION slotd_waitlist_join(p_slot bigint, p_count integer,
                                    p_owner text, p_name text, p_email text,
                                    p_admin boolean)
RETURNS SETOF slotd_entry_result
LANGUAGE plpgsql AS $$
DECLARE
    run bigint[];
    why text;
    w slotd_waitlist;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM slots WHERE id = p_slot) THEN
        why := 'slot-not-found';
    ELSE
        run := slotd_lock_run(p_slot, p_count);
        IF cardinality(run) < p_count THEN
            why := 'not-consecutive';
        ELSIF (SELECT start_at FROM slots WHERE id = run[1]) <= now() THEN
            why := 'slot-in-past';
        ELSE
            why := slotd_run_refusal(run, p_count, p_admin);
        END IF;
    END IF;
    IF why IS NULL AND NOT EXISTS (SELECT 1 FROM slots
                                    WHERE id = ANY (run)
                                      AND booked >= capacity) THEN
        why := 'slot-available';
    ELSIF why IS NULL AND p_owner <> '' AND EXISTS (
            SELECT 1 FROM slotd_waitlist
             WHERE owner = p_owner AND slot_ids[1] = run[1]
               AND status IN ('waiting', 'offered')) THEN
        why := 'already-waiting';
    END IF;
    IF why IS NOT NULL THEN
        RETURN QUERY SELECT * FROM slotd_entry_refused(why);
        RETURN;
    END IF;
    INSERT INTO slotd_waitlist (slot_ids, owner, name, email)
    VALUES (run, p_owner, p_name, p_email) RETURNING * INTO w;
    RETURN QUERY SELECT * FROM slotd_entry_row('waiting', w);
END
$$;

-- An entry of its owner, or any as an admin.
CREATE FUNCTION slotd_waitlist_get(p_id uuid, p_owner text, p_admin boolean)
RETURNS SETOF slotd_entry_result
LANGUAGE sql STABLE AS $$
    SELECT (slotd_entry_row('found', w)).* FROM slotd_waitlist w
     WHERE w.id = p_id AND (p_admin OR w.owner = p_owner)
       AND w.status <> 'left'
$$;

-- Leave the waitlist; an open offer's seats pass to the next entry.  The
-- slots are locked before the entry, as the offers lock them.  Outcomes:
-- left, not-found.
CREATE FUNCTION slotd_waitlist_leave(p_id uuid, p_owner text,
                                     p_admin boolean)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    w slotd_waitlist;
    h holds;
BEGIN
    SELECT * INTO w FROM slotd_waitlist
     WHERE id = p_id AND (p_admin OR owner = p_owner)
       AND status IN ('waiting', 'offered');
    IF FOUND THEN
        PERFORM 1 FROM slots WHERE id = ANY (w.slot_ids) ORDER BY id
            FOR UPDATE;
        SELECT * INTO w FROM slotd_waitlist
         WHERE id = p_id AND status IN ('waiting', 'offered') FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM slotd_rows('not-found', NULL, NULL, NULL,
            '{}');
        RETURN;
    END IF;
    UPDATE slotd_waitlist SET status = 'left', updated_at = now()
     WHERE id = w.id;
    IF w.status = 'offered' THEN
        DELETE FROM holds WHERE id = w.hold_id RETURNING * INTO h;
        IF FOUND THEN
            UPDATE slots SET booked = booked - 1 WHERE id = ANY (h.slot_ids);
            RETURN QUERY SELECT * FROM slotd_rows('left', w.id::text, NULL,
                h.slot_ids, h.slot_ids);
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT * FROM slotd_rows('left', w.id::text, NULL,
        w.slot_ids, '{}');
END
$$;
