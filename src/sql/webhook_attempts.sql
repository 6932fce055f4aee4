-- A webhook's latest delivery attempts, newest first.
SELECT * FROM slotd_webhook_attempts($1::bigint, $2::integer)
