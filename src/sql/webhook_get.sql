-- One webhook, or (NULL) all of them, without their secrets.
SELECT * FROM slotd_webhook_get($1::bigint)
