-- Tell the other instances what this worker changed (migration 0004).
SELECT slotd_announce($1)
