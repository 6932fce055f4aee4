/*
 * worker: one libevent loop serving HTTP on the shared listening socket.
 * Reads come from the shared slot table; nothing here blocks.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <libpq-fe.h>

#include "slotd.h"

#define WORKER_MAX_HEADERS	(16 * 1024)
#define WORKER_MAX_BODY		(1024 * 1024)	/* routes allow less */
#define WORKER_TIMEOUT		60

/* Apply the slot states a committed statement returned, so that the next
 * read on any worker of this instance already sees them. */
void
worker_apply_rows(struct worker_ctx *w, struct pg_result *res, int flags)
{
	struct db_row r;
	int i, n = PQntuples(res);

	for (i = 0; i < n && db_result_row(res, i, &r) == 0; i++)
		if (r.has_slot)
			slot_table_apply(w->table, &r.slot, flags);
	slot_table_publish(w->table);
}

static void
worker_ops(struct evhttp_request *req, struct worker_ctx *w,
    void (*route)(struct evhttp_request *, struct worker_ctx *))
{
	int method = http_method(req);

	if (method != HTTP_GET && method != HTTP_HEAD)
		http_method_not_allowed(req, HTTP_GET | HTTP_HEAD);
	else
		route(req, w);
}

/* Dispatch on the path; every answer is sent before this returns. */
static void
worker_request(struct evhttp_request *req, void *arg)
{
	struct worker_ctx *w = arg;
	const char *path = evhttp_uri_get_path(
	    evhttp_request_get_evhttp_uri(req));

	if (path == NULL)
		path = "";
	if (strncmp(path, "/slots", 6) == 0 &&
	    (path[6] == '\0' || path[6] == '/'))
		route_slots(req, w, path + 6);
	else if (strncmp(path, "/appointments", 13) == 0 &&
	    (path[13] == '\0' || path[13] == '/'))
		route_appointments(req, w, path + 13);
	else if (strncmp(path, "/holds", 6) == 0 &&
	    (path[6] == '\0' || path[6] == '/'))
		route_holds(req, w, path + 6);
	else if (strcmp(path, "/healthz") == 0)
		worker_ops(req, w, route_healthz);
	else if (strcmp(path, "/readyz") == 0)
		worker_ops(req, w, route_readyz);
	else
		http_problem(req, 404, "not-found", "no such resource");
}

static void
worker_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	(void)what;
	log_debug("signal %d, stopping", (int)sig);
	event_base_loopexit(base, NULL);
}

int
worker_main(struct config *conf, struct slot_table *table, int listen_fd,
    int index)
{
	struct worker_ctx w;
	struct event_base *base;
	struct event *ev_term, *ev_int;
	struct evhttp *http;

	log_set_role("worker %d", index);
	if (tz_use(conf->timezone) == -1)
		fatalx("time zone %s cannot be loaded", conf->timezone);
	memset(&w, 0, sizeof(w));
	w.conf = conf;
	w.table = table;
	w.index = index;
	w.owner = "";
	w.slots_cap = 256;
	w.slots = xcalloc(w.slots_cap, sizeof(*w.slots));

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	w.db = db_pool_new(base, conf->conninfo, conf->pool_size,
	    conf->queue_size);
	if ((http = evhttp_new(base)) == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(http, WORKER_MAX_HEADERS);
	evhttp_set_max_body_size(http, WORKER_MAX_BODY);
	evhttp_set_timeout(http, WORKER_TIMEOUT);
	evhttp_set_gencb(http, worker_request, &w);
	if (evhttp_accept_socket(http, listen_fd) == -1)
		fatalx("cannot accept on the listening socket");

	ev_term = evsignal_new(base, SIGTERM, worker_signal, base);
	ev_int = evsignal_new(base, SIGINT, worker_signal, base);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);

	log_debug("serving");
	event_base_dispatch(base);

	event_free(ev_term);
	event_free(ev_int);
	evhttp_free(http);
	db_pool_free(w.db);
	event_base_free(base);
	free(w.slots);
	return 0;
}
