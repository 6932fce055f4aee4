-- Admin: create slots (start and end seconds, capacities), all or none.
SELECT * FROM slotd_create_slots($1::bigint[], $2::bigint[], $3::integer[])
