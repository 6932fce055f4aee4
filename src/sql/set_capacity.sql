-- Admin: change a slot's capacity, never below its seats taken.
SELECT * FROM slotd_set_capacity($1::bigint, $2::integer)
