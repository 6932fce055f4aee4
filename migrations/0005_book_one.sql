-- slotd 0005: the common booking (one slot, no hold) in as few statements
-- as possible: one locked read, one insert, one update, no helper calls.
-- Same outcomes and result rows as slotd_book.

CREATE FUNCTION slotd_book_one(p_slot bigint, p_name text, p_email text,
                               p_note text, p_owner text, p_key text,
                               p_request text)
RETURNS SETOF slotd_result
LANGUAGE plpgsql AS $$
DECLARE
    a appointments;
    s slots;
BEGIN
    IF p_key IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(
            hashtextextended(p_owner || chr(1) || p_key, 0));
        SELECT * INTO a FROM appointments
         WHERE owner = p_owner AND idempotency_key = p_key;
        IF FOUND THEN
            RETURN QUERY SELECT * FROM slotd_rows(
                CASE WHEN a.request = p_request THEN 'replayed'
                     ELSE 'key-reused' END,
                a.id::text, a.created_at, a.slot_ids, '{}', a.start_at,
                a.end_at);
            RETURN;
        END IF;
    END IF;
    SELECT * INTO s FROM slots WHERE id = p_slot FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT * FROM slotd_rows('slot-not-found', NULL, NULL,
            NULL, '{}');
        RETURN;
    END IF;
    IF s.start_at <= now() OR s.booked >= s.capacity THEN
        RETURN QUERY SELECT CASE WHEN s.start_at <= now() THEN 'slot-in-past'
                                 ELSE 'slot-full' END,
            NULL::text, NULL::bigint, ARRAY[s.id], NULL::bigint,
            NULL::bigint, s.id, s.calendar_id, slotd_epoch(s.start_at),
            slotd_epoch(s.end_at), s.capacity, s.booked, s.version;
        RETURN;
    END IF;
    INSERT INTO appointments (slot_ids, start_at, end_at, name, email, note,
                              owner, idempotency_key, request)
    VALUES (ARRAY[s.id], s.start_at, s.end_at, p_name, p_email, p_note,
            p_owner, p_key, p_request)
    RETURNING * INTO a;
    UPDATE slots SET booked = booked + 1 WHERE id = s.id RETURNING * INTO s;
    RETURN QUERY SELECT 'booked', a.id::text, slotd_epoch(a.created_at),
        a.slot_ids, slotd_epoch(a.start_at), slotd_epoch(a.end_at), s.id,
        s.calendar_id, slotd_epoch(s.start_at), slotd_epoch(s.end_at),
        s.capacity, s.booked, s.version;
END
$$;
