-- Hold count consecutive slots from a slot for ttl seconds, under the
-- calendar's rules.
SELECT * FROM slotd_hold_ruled($1::bigint, $2::integer, $3, $4::integer,
                               $5::boolean)
