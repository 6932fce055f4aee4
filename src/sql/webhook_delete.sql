-- Delete a webhook with its deliveries.
SELECT * FROM slotd_webhook_delete($1::bigint)
