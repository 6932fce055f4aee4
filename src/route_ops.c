/*
 * route_ops: liveness and readiness for load balancers and systemd.
 */
#include <event2/buffer.h>

#include "slotd.h"

static void
ops_ok(struct http_request *req, const char *status)
{
	struct evbuffer *body = evbuffer_new();

	evbuffer_add_printf(body, "{\"status\":\"%s\"}", status);
	http_add_header(req, "Cache-Control", "no-store");
	http_send(req, 200, "application/json", body);
	evbuffer_free(body);
}

/* GET /healthz */
void
route_healthz(struct http_request *req, struct worker_ctx *w, const char *id)
{
	(void)w;
	(void)id;
	ops_ok(req, "ok");
}

/* GET /readyz: ready once the table is loaded and the syncer reaches the
 * database. */
void
route_readyz(struct http_request *req, struct worker_ctx *w, const char *id)
{
	(void)id;
	if (!slot_table_flag(w->table, SLOT_FLAG_LOADED))
		http_problem(req, 503, "unavailable",
		    "the slot table is still loading");
	else if (!slot_table_flag(w->table, SLOT_FLAG_DB_OK))
		http_problem(req, 503, "unavailable",
		    "the database cannot be reached");
	else
		ops_ok(req, "ready");
}

/* GET /metrics */
void
route_metrics(struct http_request *req, struct worker_ctx *w, const char *id)
{
	struct evbuffer *body = evbuffer_new();

	(void)id;
	metrics_render(body, w->table);
	http_add_header(req, "Cache-Control", "no-store");
	http_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", body);
	evbuffer_free(body);
}
