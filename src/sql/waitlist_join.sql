-- Wait for a full run of slots, under its calendar's rules (migration
-- 0012).
SELECT * FROM slotd_waitlist_join($1::bigint, $2::integer, $3, $4, $5,
                                  $6::boolean)
