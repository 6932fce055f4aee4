-- slotd 0007: slotd_epoch was declared IMMUTABLE around extract(), which
-- is only STABLE for timestamptz, so PostgreSQL never inlined it: every
-- call ran the SQL function machinery, which cost a booking statement
-- about a third of its time.  Declared STABLE it is folded into the
-- calling query, and date_part (double precision) spares the numeric
-- arithmetic; microseconds are far below the precision that could move
-- the floor to another second.

CREATE OR REPLACE FUNCTION slotd_epoch(t timestamptz) RETURNS bigint
LANGUAGE sql STABLE AS $$ SELECT floor(date_part('epoch', t))::bigint $$;
