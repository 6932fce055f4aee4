-- A new webhook; its answer is the only one with the secret.
SELECT * FROM slotd_webhook_create($1, $2::text[], $3, $4)
