-- Change what is given of a webhook (NULL: kept).
SELECT * FROM slotd_webhook_update($1::bigint, $2, $3::text[], $4::boolean,
                                   $5, $6::boolean)
