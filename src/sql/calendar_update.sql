-- A calendar changed as a whole, for the revision read before.
SELECT * FROM slotd_calendar_update($1::bigint, $2::bigint, $3, $4,
                                    $5::jsonb, $6::jsonb, $7::boolean)
