/*
 * changelog: the syncer's reading of slot_changes (migration 0008).
 *
 * Every statement that changes slots logs the ids it changed in its own
 * transaction.  The syncer remembers the snapshot of its last read and asks
 * for the changes of the transactions that snapshot could not see, so that
 * a transaction committing out of order is never missed; it applies the
 * slots' present states by version, like notifications.  A change whose
 * notification was lost thus reaches the table at the next read.  Rows
 * every instance has read are pruned.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "slotd.h"

#define CHANGELOG_KEEP		120	/* seconds a change stays logged */
#define CHANGELOG_STALE		(CHANGELOG_KEEP / 2)	/* older: reload */

/* Ask for the snapshot a full load starts from: whatever the load cannot
 * see is read from the log afterwards. */
int
changelog_send_position(PGconn *conn)
{
	return PQsendQuery(conn, "SELECT pg_current_snapshot()::text") ? 0 :
	    -1;
}

/* Ask for the slots changed by transactions the last read could not see. */
int
changelog_send_read(struct changelog *cl, PGconn *conn)
{
	const char *values[1] = { cl->seen };

	free(cl->next_seen);
	cl->next_seen = NULL;
	return PQsendQueryParams(conn, "SELECT * FROM "
	    "slotd_changes_since($1::pg_snapshot)", 1, NULL, values, NULL,
	    NULL, 0) ? 0 : -1;
}

/* The oldest transaction still running at the last read: rows of older
 * ones may go once every instance has read past it. */
static void
changelog_prune_mark(struct changelog *cl)
{
	snprintf(cl->prune_below, sizeof(cl->prune_below), "%.*s",
	    (int)strcspn(cl->seen, ":"), cl->seen);
	cl->prune_at = time(NULL);
}

/* Every CHANGELOG_KEEP seconds, delete the rows of transactions that had
 * ended CHANGELOG_KEEP seconds ago: every instance has read them, since
 * one whose last read is older than CHANGELOG_STALE reloads instead.
 * 1 when a deletion was sent, 0 when none is due, -1 on failure. */
int
changelog_send_prune(struct changelog *cl, PGconn *conn)
{
	const char *values[1] = { cl->prune_below };

	if (cl->prune_below[0] == '\0') {
		changelog_prune_mark(cl);
		return 0;
	}
	if (time(NULL) < cl->prune_at + CHANGELOG_KEEP)
		return 0;
	if (!PQsendQueryParams(conn, "DELETE FROM slot_changes WHERE "
	    "xid < $1::xid8", 1, NULL, values, NULL, NULL, 0))
		return -1;
	return 1;
}

/* A deletion ended; the next is due CHANGELOG_KEEP seconds from now. */
void
changelog_pruned(struct changelog *cl, int failed)
{
	if (failed)
		log_warnx("%s: pruning the change log failed", __func__);
	changelog_prune_mark(cl);
}

/* Keep the snapshot of a result (its first column) as the position that
 * the read under way reaches. */
static void
changelog_reached(struct changelog *cl, PGresult *res)
{
	free(cl->next_seen);
	cl->next_seen = xstrdup(PQgetvalue(res, 0, 0));
}

/* The read under way is done: its position becomes the last read's. */
static void
changelog_advance(struct changelog *cl)
{
	free(cl->seen);
	cl->seen = cl->next_seen;
	cl->next_seen = NULL;
	cl->seen_at = time(NULL);
}

/* The snapshot taken before a full load: the position from which on. */
void
changelog_loaded_from(struct changelog *cl, PGresult *res)
{
	if (PQntuples(res) != 1)
		return;
	changelog_reached(cl, res);
	changelog_advance(cl);
}

/* Apply what a read says of each slot: its state now, or its deletion.
 * Rows already known change nothing; the others are counted. */
void
changelog_apply(struct changelog *cl, PGresult *res, struct slot_table *t,
    int max_slots)
{
	struct slot sl;
	int i, n = PQntuples(res), applied = 0;

	if (n < 1 || PQnfields(res) != 8)
		return;
	changelog_reached(cl, res);
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res, i, 1))
			continue;
		sl.id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		if (PQgetisnull(res, i, 2)) {
			if (slot_table_remove(t, sl.id) == 0)
				applied++;
			continue;
		}
		sl.calendar_id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		sl.start = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		sl.end = strtoll(PQgetvalue(res, i, 4), NULL, 10);
		sl.capacity = (int32_t)strtol(PQgetvalue(res, i, 5), NULL, 10);
		sl.booked = (int32_t)strtol(PQgetvalue(res, i, 6), NULL, 10);
		sl.version = strtoll(PQgetvalue(res, i, 7), NULL, 10);
		switch (slot_table_apply(t, &sl, 0)) {
		case SLOT_UPDATED:
		case SLOT_INSERTED:
			applied++;
			break;
		case SLOT_TABLE_FULL:
			log_warnx("slot table full (max_slots = %d): slot %lld "
			    "not cached", max_slots, (long long)sl.id);
			break;
		default:
			break;
		}
	}
	slot_table_publish(t);
	metrics_log_applied((uint64_t)applied);
}

/* A read ended: move the position on if it worked.  A log that cannot be
 * read is said once; the read is tried again at the next tick, and the
 * whole table reloaded once the position is stale. */
void
changelog_read_done(struct changelog *cl, int failed)
{
	if (failed || cl->next_seen == NULL) {
		if (!cl->failing)
			log_warnx("%s: the change log cannot be read; changes "
			    "whose notification was lost wait for a reload",
			    __func__);
		cl->failing = 1;
		return;
	}
	if (cl->failing)
		log_info("the change log can be read again");
	cl->failing = 0;
	changelog_advance(cl);
}

/* Has the position grown too old to read from (rows may be pruned)? */
int
changelog_stale(const struct changelog *cl)
{
	return cl->seen == NULL || time(NULL) > cl->seen_at + CHANGELOG_STALE;
}

void
changelog_clear(struct changelog *cl)
{
	free(cl->seen);
	free(cl->next_seen);
	memset(cl, 0, sizeof(*cl));
}
