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

struct events_query {
	int64_t	after;
	int	limit;
};

static int
events_param(struct http_request *req, const char *key, const char *value,
    void *arg)
{
	struct events_query *q = arg;

	if (strcmp(key, "limit") == 0)
		return http_query_count(req, key, value, EVENTS_PAGE_MAX,
		    &q->limit);
	if (strcmp(key, "after") != 0)
		return http_query_unknown(req, key);
	if (strcmp(value, "0") == 0)
		q->after = 0;
	else if (http_parse_id(value, &q->after) == -1) {
		http_problem(req, 400, "bad-request", "after must be an event "
		    "id (a non-negative integer)");
		return -1;
	}
	return 0;
}

static void
events_done(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct events_call *c = arg;
	struct http_request *req = commit_rows(&c->pending, res, outcome);
	struct evbuffer *body;
	struct emit *e;
	int i, msgpack;

	if (req == NULL)
		goto done;
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
	struct events_query q = { 0, EVENTS_PAGE_DEFAULT };
	struct events_call *c;
	struct db_args args;

	(void)unused;
	if (http_query_walk(req, events_param, &q) == -1)
		return;
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_AFTER, q.after);
	db_arg_int(&args, DB_ARG_LIMIT, q.limit);
	if (commit_submit(w->commit, req, &c->pending, DB_EVENTS_PAGE, &args,
	    events_done, c) == -1)
		free(c);
}
