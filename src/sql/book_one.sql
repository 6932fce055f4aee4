-- One slot, no hold, with an idempotency key (migration 0005).
SELECT * FROM slotd_book_one($1::bigint, $2, $3, $4, $5, $6, $7)
