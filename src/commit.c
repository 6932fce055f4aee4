/*
 * commit: the write path below the routes.  A route sends a statement
 * (commit_submit); when it is over, commit_answer applies the slot states
 * the statement returned to the shared table, so that the next read on
 * any worker of this instance already sees them, and gathers them into
 * announcements for the other instances (our own connections are quiet:
 * see migration 0004).  Calls run one way: worker -> routes -> commit ->
 * database and shared table.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"

#define COMMIT_ANNOUNCE_MAX	7000	/* bytes per notification (< 8000) */
#define COMMIT_ANNOUNCE_MS	5	/* changes gathered into one */

struct commit {
	struct db_pool		*db;
	struct slot_table	*table;
	struct evbuffer		*announce;	/* changes for other instances */
	struct event		*ev_announce;
	int			 announcing;	/* notifications in flight */
};

/* Send the gathered changes in a little while, unless that is planned or
 * an announcement is still in flight (its answer plans the next). */
static void
commit_announce_later(struct commit *c)
{
	struct timeval tv = { 0, COMMIT_ANNOUNCE_MS * 1000 };

	if (c->announcing == 0 && !evtimer_pending(c->ev_announce, NULL))
		evtimer_add(c->ev_announce, &tv);
}

static void
commit_announced(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct commit *c = arg;

	if (outcome != DB_DONE || PQresultStatus(res) != PGRES_TUPLES_OK)
		log_warnx("announcing slot changes failed: other instances "
		    "learn them from the change log within a second");
	c->announcing--;
	if (evbuffer_get_length(c->announce) > 0)
		commit_announce_later(c);
}

/* Send what changed since the last announcement, in notifications of at
 * most COMMIT_ANNOUNCE_MAX bytes.  Changes are gathered for a few
 * milliseconds, and one announcement is in flight at a time, so that under
 * load many bookings share one notification (each is a transaction, and
 * PostgreSQL serialises the commits of notifying ones); the other
 * instances see a change that much later.  This instance's own workers
 * saw it at once, in the shared table. */
static void
commit_announce_flush(evutil_socket_t fd, short what, void *arg)
{
	struct commit *c = arg;
	struct db_args args;
	size_t len, cut;
	char *all, *p, *end;

	(void)fd;
	(void)what;
	len = evbuffer_get_length(c->announce);
	all = xcalloc(1, len + 1);
	evbuffer_remove(c->announce, all, len);
	for (p = all; *p != '\0'; p = end) {
		cut = strlen(p) > COMMIT_ANNOUNCE_MAX ? COMMIT_ANNOUNCE_MAX :
		    strlen(p);
		end = p + cut;
		if (*end != '\0') {
			while (end > p && *end != ';')
				end--;
			*end++ = '\0';
		}
		memset(&args, 0, sizeof(args));
		db_arg(&args, DB_ARG_PAYLOAD, p);
		c->announcing++;
		if (db_pool_query(c->db, DB_ANNOUNCE, &args, commit_announced,
		    c) == -1)
			commit_announced(NULL, DB_UNAVAILABLE, c);
	}
	free(all);
}

/* Tell the other instances about a slot's new state: kind 'n' for a slot
 * this worker created, 'a' for new seats or capacity of an existing one
 * (never inserted, so a late announcement cannot bring back a slot
 * deleted meanwhile), 'd' with s NULL for a deleted slot. */
static void
commit_announce(struct commit *c, int kind, const struct slot *s,
    int64_t deleted)
{
	struct timespec ts;
	long long ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (evbuffer_get_length(c->announce) > 0)
		evbuffer_add(c->announce, ";", 1);
	else
		commit_announce_later(c);
	if (s == NULL)
		evbuffer_add_printf(c->announce, "d,%lld,0,%lld",
		    (long long)deleted, ms);
	else
		evbuffer_add_printf(c->announce, "%c,%lld,%lld,%lld,%lld,%d,%d,"
		    "%lld,%lld", kind, (long long)s->id, (long long)s->calendar_id,
		    (long long)s->start, (long long)s->end, s->capacity,
		    s->booked, (long long)s->version, ms);
}

/* Apply the slot states a committed statement returned, and announce
 * them. */
static void
commit_apply_rows(struct commit *c, struct pg_result *res, int flags)
{
	struct db_row r;
	int i, n = PQntuples(res);

	for (i = 0; i < n && db_result_row(res, i, &r) == 0; i++) {
		if (!r.has_slot)
			continue;
		slot_table_apply(c->table, &r.slot, flags);
		commit_announce(c, flags & SLOT_APPLY_UPDATE_ONLY ? 'a' : 'n',
		    &r.slot, 0);
	}
	slot_table_publish(c->table);
}

/* A slot a committed statement deleted leaves the table. */
void
commit_deleted(struct commit *c, int64_t slot_id)
{
	slot_table_remove(c->table, slot_id);
	slot_table_publish(c->table);
	commit_announce(c, 'd', NULL, slot_id);
}

/* Send a write to the database for req; answers 503 itself and returns -1
 * (cb not called) when the pool refuses it. */
int
commit_submit(struct commit *c, struct http_request *req,
    struct http_pending *p, enum db_stmt stmt, const struct db_args *args,
    db_callback cb, void *arg)
{
	http_pending_start(p, req);
	if (db_pool_query(c->db, stmt, args, cb, arg) == 0)
		return 0;
	http_pending_finish(p);
	http_problem(req, 503, "unavailable",
	    "the database cannot take this request now");
	return -1;
}

/* The start of every write's answer: apply the slot states it returned,
 * drop the client when the outcome is unknown, answer 503 when the
 * database failed.  Otherwise the request to answer (NULL if its client
 * left) with the first row in r.  *failure names what went wrong. */
struct http_request *
commit_answer(struct commit *c, struct http_pending *p,
    struct pg_result *res, enum db_outcome outcome, int flags,
    struct db_row *r, const char **failure)
{
	struct http_request *req;

	*failure = NULL;
	if (res != NULL)
		commit_apply_rows(c, res, flags);
	if (outcome == DB_LOST) {
		*failure = "unknown";
		http_pending_drop(p);
		return NULL;
	}
	req = http_pending_finish(p);
	if (outcome != DB_DONE || db_result_row(res, 0, r) == -1) {
		if (res != NULL && PQresultStatus(res) != PGRES_TUPLES_OK)
			log_warnx("%s: write failed: %s", __func__,
			    PQresultErrorMessage(res));
		*failure = "unavailable";
		if (req != NULL)
			http_problem(req, 503, "unavailable",
			    "the database cannot take this request now");
		return NULL;
	}
	return req;
}

/* Nothing is waiting to be written or announced. */
int
commit_settled(const struct commit *c)
{
	return db_pool_idle(c->db) && evbuffer_get_length(c->announce) == 0;
}

struct commit *
commit_new(struct event_base *base, const struct config *conf,
    struct slot_table *table)
{
	struct commit *c = xcalloc(1, sizeof(*c));

	c->table = table;
	c->db = db_pool_new(base, conf->conninfo, conf->pool_size,
	    conf->queue_size, conf->hold_ttl_seconds, metrics_pool_counters());
	c->announce = evbuffer_new();
	c->ev_announce = evtimer_new(base, commit_announce_flush, c);
	return c;
}

void
commit_free(struct commit *c)
{
	db_pool_free(c->db);
	event_free(c->ev_announce);
	evbuffer_free(c->announce);
	free(c);
}

/* The request waiting for a read's rows, or NULL when its client left or
 * it is answered here: 503 when the statement did not run. */
struct http_request *
commit_rows(struct http_pending *pending, const PGresult *res,
    enum db_outcome outcome)
{
	struct http_request *req = http_pending_finish(pending);

	if (req == NULL)
		return NULL;
	if (outcome == DB_DONE && PQresultStatus(res) == PGRES_TUPLES_OK)
		return req;
	if (outcome == DB_DONE)
		log_warnx("%s: %s", __func__, PQresultErrorMessage(res));
	http_problem(req, 503, "unavailable",
	    "the database cannot take this request now");
	return NULL;
}
