-- Admin: delete a slot nobody booked or holds.
SELECT * FROM slotd_delete_slot($1::bigint)
