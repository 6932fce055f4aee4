-- One slot, no hold, with an idempotency key (migrations 0005, 0010).
SELECT * FROM slotd_book_one_ruled($1::bigint, $2, $3, $4, $5, $6, $7,
                                   $8::boolean)
