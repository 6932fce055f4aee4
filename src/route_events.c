/*
 * route_events: GET /events?after=ID&limit=N (admin), the outbox for a
 * platform that polls instead of taking webhooks.  Events come oldest
 * first by id, and ids follow the order of commits (migration 0012 numbers
 * them after the commit, one numbering at a time): a poller that always
 * asks after the last id it saw never misses one.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

#define EVENTS_PAGE_MAX		1000
#define EVENTS_PAGE_DEFAULT	100

struct events_call {
	struct http_pending	 pending;
	struct worker_ctx	*w;
};

/* after= and limit=; -1 once answered. */
static int
events_query(struct http_request *req, int64_t *after, int *limit)
{
	const char *q = http_query(req);
	char key[32], value[32];
	int64_t v;
	int rc;

	*after = 0;
	*limit = EVENTS_PAGE_DEFAULT;
	while (q != NULL && (rc = http_query_next(&q, key, sizeof(key), value,
	    sizeof(value))) != 0) {
		if (rc == -1) {
			http_problem(req, 400, "bad-request",
			    "malformed query string");
			return -1;
		}
		if (strcmp(key, "after") == 0) {
			if (strcmp(value, "0") != 0 &&
			    http_parse_id(value, after) == -1) {
				http_problem(req, 400, "bad-request", "after must "
				    "be an event id (a non-negative integer)");
				return -1;
			}
		} else if (strcmp(key, "limit") == 0) {
			if (http_parse_id(value, &v) == -1 ||
			    v > EVENTS_PAGE_MAX) {
				http_problem(req, 400, "bad-request", "limit must "
				    "be an integer in 1..%d", EVENTS_PAGE_MAX);
				return -1;
			}
			*limit = (int)v;
		} else {
			http_problem(req, 400, "bad-request",
			    "unknown query parameter '%.64s'", key);
			return -1;
		}
	}
	return 0;
}

static void
events_done(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct events_call *c = arg;
	struct http_request *req = http_pending_finish(&c->pending);
	struct evbuffer *body;
	struct emit *e;
	int i, msgpack;

	if (req == NULL)
		goto done;
	if (outcome != DB_DONE || PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (outcome == DB_DONE)
			log_warnx("%s: %s", __func__, PQresultErrorMessage(res));
		http_problem(req, 503, "unavailable",
		    "the database cannot take this request now");
		goto done;
	}
	msgpack = http_wants_msgpack(req);
	body = evbuffer_new();
	e = emit_new(body, msgpack);
	emit_map(e, 1);
	emit_key(e, "events");
	emit_array(e, (size_t)PQntuples(res));
	for (i = 0; i < PQntuples(res); i++)
		event_emit(e, c->w->conf, res, i);
	emit_end(e);
	emit_end(e);
	emit_free(e);
	http_send_doc(req, 200, body, msgpack, NULL);
	evbuffer_free(body);
done:
	free(c);
}

/* GET /events?after=&limit= */
void
route_events_list(struct http_request *req, struct worker_ctx *w,
    const char *unused)
{
	struct events_call *c;
	struct db_args args;
	int64_t after;
	int limit;

	(void)unused;
	if (events_query(req, &after, &limit) == -1)
		return;
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_AFTER, after);
	db_arg_int(&args, DB_ARG_LIMIT, limit);
	if (commit_submit(w->commit, req, &c->pending, DB_EVENTS_PAGE, &args,
	    events_done, c) == -1)
		free(c);
}
