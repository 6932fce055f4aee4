-- Give a hold of its owner back.
SELECT * FROM slotd_release($1::uuid, $2)
