-- Book count consecutive slots from a slot, or convert a hold; with an
-- idempotency key, a retry gets the stored answer (migration 0002).
SELECT * FROM slotd_book($1::bigint, $2::integer, $3, $4, $5, $6, $7, $8,
                         $9::uuid)
