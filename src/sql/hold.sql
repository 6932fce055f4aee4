-- Hold count consecutive slots from a slot for ttl seconds.
SELECT * FROM slotd_hold($1::bigint, $2::integer, $3, $4::integer)
