-- Book count consecutive slots from a slot, or convert a hold, under the
-- calendar's rules (admins exempt from its window); with an idempotency
-- key, a retry gets the stored answer (migrations 0002, 0010).
SELECT * FROM slotd_book_ruled($1::bigint, $2::integer, $3, $4, $5, $6, $7,
                               $8, $9::uuid, $10::boolean)
