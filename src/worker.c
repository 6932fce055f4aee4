/*
 * worker: one libevent loop serving HTTP on the shared listening socket.
 * Reads come from the shared slot table; nothing here blocks.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/ssl.h>

#include "slotd.h"

#define WORKER_ANNOUNCE_MAX	7000	/* bytes per notification (< 8000) */
#define WORKER_ANNOUNCE_MS	5	/* changes gathered into one */

/* Send the gathered changes in a little while, unless that is planned or
 * an announcement is still in flight (its answer plans the next). */
static void
worker_announce_later(struct worker_ctx *w)
{
	struct timeval tv = { 0, WORKER_ANNOUNCE_MS * 1000 };

	if (w->announcing == 0 && !evtimer_pending(w->ev_announce, NULL))
		evtimer_add(w->ev_announce, &tv);
}

static void
worker_announced(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct worker_ctx *w = arg;

	if (outcome != DB_DONE || PQresultStatus(res) != PGRES_TUPLES_OK)
		log_warnx("announcing slot changes failed: other instances "
		    "learn them from the change log within a second");
	w->announcing--;
	if (evbuffer_get_length(w->announce) > 0)
		worker_announce_later(w);
}

/* Send what changed since the last announcement, in notifications of at
 * most WORKER_ANNOUNCE_MAX bytes.  Changes are gathered for a few
 * milliseconds, and one announcement is in flight at a time, so that under
 * load many bookings share one notification (each is a transaction, and
 * PostgreSQL serialises the commits of notifying ones); the other
 * instances see a change that much later.  This instance's own workers
 * saw it at once, in the shared table. */
static void
worker_announce_flush(evutil_socket_t fd, short what, void *arg)
{
	struct worker_ctx *w = arg;
	size_t len, cut;
	char *all, *p, *end;
	const char *values[1];

	(void)fd;
	(void)what;
	len = evbuffer_get_length(w->announce);
	all = xcalloc(1, len + 1);
	evbuffer_remove(w->announce, all, len);
	for (p = all; *p != '\0'; p = end) {
		cut = strlen(p) > WORKER_ANNOUNCE_MAX ? WORKER_ANNOUNCE_MAX :
		    strlen(p);
		end = p + cut;
		if (*end != '\0') {
			while (end > p && *end != ';')
				end--;
			*end++ = '\0';
		}
		values[0] = p;
		w->announcing++;
		if (db_pool_query(w->db, DB_ANNOUNCE, values, worker_announced,
		    w) == -1)
			worker_announced(NULL, DB_UNAVAILABLE, w);
	}
	free(all);
}

/* Tell the other instances about a slot's new state (our own connections
 * are quiet: see migration 0004): kind 'n' for a slot this worker created,
 * 'a' for new seats or capacity of an existing one (never inserted, so a
 * late announcement cannot bring back a slot deleted meanwhile), 'd' with
 * s NULL for a deleted slot. */
void
worker_announce(struct worker_ctx *w, int kind, const struct slot *s,
    int64_t deleted)
{
	struct timespec ts;
	long long ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (evbuffer_get_length(w->announce) > 0)
		evbuffer_add(w->announce, ";", 1);
	else
		worker_announce_later(w);
	if (s == NULL)
		evbuffer_add_printf(w->announce, "d,%lld,0,%lld",
		    (long long)deleted, ms);
	else
		evbuffer_add_printf(w->announce, "%c,%lld,%lld,%lld,%lld,%d,%d,"
		    "%lld,%lld", kind, (long long)s->id, (long long)s->calendar_id,
		    (long long)s->start, (long long)s->end, s->capacity,
		    s->booked, (long long)s->version, ms);
}

/* Apply the slot states a committed statement returned, so that the next
 * read on any worker of this instance already sees them, and announce
 * them to the other instances. */
void
worker_apply_rows(struct worker_ctx *w, struct pg_result *res, int flags)
{
	struct db_row r;
	int i, n = PQntuples(res);

	for (i = 0; i < n && db_result_row(res, i, &r) == 0; i++) {
		if (!r.has_slot)
			continue;
		slot_table_apply(w->table, &r.slot, flags);
		worker_announce(w, flags & SLOT_APPLY_UPDATE_ONLY ? 'a' : 'n',
		    &r.slot, 0);
	}
	slot_table_publish(w->table);
}

/* Send a write to the database for req; answers 503 itself and returns -1
 * (cb not called) when the pool refuses it. */
int
worker_db_submit(struct worker_ctx *w, struct http_request *req,
    struct http_pending *p, enum db_stmt stmt, const char *const *values,
    db_callback cb, void *arg)
{
	http_pending_start(p, req);
	if (db_pool_query(w->db, stmt, values, cb, arg) == 0)
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
worker_db_answer(struct worker_ctx *w, struct http_pending *p,
    struct pg_result *res, enum db_outcome outcome, int flags,
    struct db_row *r, const char **failure)
{
	struct http_request *req;

	*failure = NULL;
	if (res != NULL)
		worker_apply_rows(w, res, flags);
	if (outcome == DB_LOST) {
		*failure = "unknown";
		http_pending_drop(p);
		return NULL;
	}
	req = http_pending_finish(p);
	if (outcome != DB_DONE || db_result_row(res, 0, r) == -1) {
		if (res != NULL && PQresultStatus(res) != PGRES_TUPLES_OK)
			log_warnx("write failed: %s", PQresultErrorMessage(res));
		*failure = "unavailable";
		if (req != NULL)
			http_problem(req, 503, "unavailable",
			    "the database cannot take this request now");
		return NULL;
	}
	return req;
}

static int
peer_is_loopback(struct http_request *req)
{
	const char *peer = http_peer(req);

	return peer != NULL && (strncmp(peer, "127.", 4) == 0 ||
	    strcmp(peer, "::1") == 0 || strncmp(peer, "::ffff:127.", 11) == 0);
}

static void
unauthorized(struct http_request *req, const char *why)
{
	char challenge[256];

	if (why != NULL)
		snprintf(challenge, sizeof(challenge), "Bearer realm=\"slotd\", "
		    "error=\"invalid_token\", error_description=\"%s\"", why);
	else
		snprintf(challenge, sizeof(challenge), "Bearer realm=\"slotd\"");
	http_add_header(req, "WWW-Authenticate", challenge);
	http_problem(req, 401, "unauthorized", "%s", why != NULL ? why :
	    "a bearer token is required");
}

/* Who asks, and may they call route: answers 401 or 403 itself and
 * returns -1.  w->who and w->owner describe the caller afterwards. */
static int
worker_authorize(struct http_request *req, struct worker_ctx *w, int route)
{
	const char *header;
	int admin_call = route == ROUTE_SLOTS_ADMIN, rc;
	char why[128];

	memset(&w->who, 0, sizeof(w->who));
	w->owner = w->who.sub;
	if (route == ROUTE_HEALTHZ || route == ROUTE_READYZ ||
	    route == ROUTE_METRICS || route == ROUTE_OTHER)
		return 0;
	if (!w->conf->auth_jwt) {
		if (admin_call && !peer_is_loopback(req)) {
			http_problem(req, 403, "forbidden", "admin calls come "
			    "only from this host while [auth] mode = none");
			return -1;
		}
		return 0;
	}
	/* Two credentials: which one is meant is anybody's guess. */
	if (http_header_once(req, "Authorization", &header) == -1)
		return -1;
	if ((rc = auth_check(w->conf, header, &w->who, why, sizeof(why))) ==
	    AUTH_BAD) {
		unauthorized(req, why);
		return -1;
	}
	if (rc == AUTH_NONE && !((route == ROUTE_SLOTS || route == ROUTE_SLOT) &&
	    w->conf->public_reads)) {
		unauthorized(req, NULL);
		return -1;
	}
	if (admin_call && !w->who.admin) {
		http_problem(req, 403, "forbidden", "this call is for admins");
		return -1;
	}
	return 0;
}

/* A token from the client's bucket for this route, or 429 (-1). */
static int
worker_rate_limit(struct http_request *req, struct worker_ctx *w,
    int route)
{
	const struct config *c = w->conf;
	char client[128], buf[128], *forwarded;
	int reads = route == ROUTE_SLOTS || route == ROUTE_SLOT, left;
	int rate = reads ? c->reads_per_second : c->writes_per_second;
	int burst = reads ? c->reads_burst : c->writes_burst;
	const char *name = reads ? "reads" : "writes";
	uint64_t wait_ms;

	if (!c->rate_limit || route == ROUTE_HEALTHZ ||
	    route == ROUTE_READYZ || route == ROUTE_METRICS ||
	    route == ROUTE_OTHER)
		return 0;
	/* Every line: a proxy may add its own (HAProxy's forwardfor). */
	ratelimit_client(c, http_peer(req), http_header_list(req,
	    "X-Forwarded-For", &forwarded), client, sizeof(client));
	free(forwarded);
	if (ratelimit_take(client, reads ? RL_READS : RL_WRITES, rate, burst,
	    ratelimit_now_ms(), &wait_ms, &left))
		return 0;
	snprintf(buf, sizeof(buf), "%llu",
	    (unsigned long long)(wait_ms + 999) / 1000);
	http_add_header(req, "Retry-After", buf);
	snprintf(buf, sizeof(buf), "\"%s\";q=%d;w=%d", name, burst,
	    (burst + rate - 1) / rate);
	http_add_header(req, "RateLimit-Policy", buf);
	snprintf(buf, sizeof(buf), "\"%s\";r=%d;t=%llu", name, left,
	    (unsigned long long)(wait_ms + 999) / 1000);
	http_add_header(req, "RateLimit", buf);
	http_problem(req, 429, "rate-limited", "too many %s from %s; retry "
	    "after %llu ms", name, client, (unsigned long long)wait_ms);
	return -1;
}

/* Dispatch through the route table; an answer may come later (database
 * calls).  Unknown paths get 404 and known ones with another method 405,
 * before rate limits and authorisation. */
void
worker_request(struct http_request *req, void *arg)
{
	struct worker_ctx *w = arg;
	const struct route *rt;
	const char *id;
	int allowed;

	rt = route_find(http_path(req), http_method(req), &id, &allowed);
	http_set_route(req, rt != NULL ? rt->metric : ROUTE_OTHER);
	if (cors_apply(req, w->conf) == -1)
		return;
	if (rt == NULL) {
		if (allowed == 0)
			http_problem(req, 404, "not-found", "no such resource");
		else
			http_method_not_allowed(req, allowed);
		return;
	}
	if (worker_rate_limit(req, w, rt->metric) == -1 ||
	    worker_authorize(req, w, rt->metric) == -1)
		return;
	rt->handler(req, w, id);
}

struct worker_drain {
	struct event_base		*base;
	struct worker_ctx		*w;
	struct http_server		*srv[2];	/* plain, TLS */
	struct event			*ev_check;
	struct timespec			 deadline;
	int				 timeout;
	int				 quiet_ticks;
};

#define WORKER_DRAIN_TICK_MS	20
#define WORKER_DRAIN_QUIET	5	/* ticks with nothing in flight: a
					   connection accepted just before the
					   listener went has sent its request */
/* While draining: leave once every request has its answer, every write
 * is done, the other instances have been told of every change, and
 * nothing new came for a while; or at the deadline. */
static void
worker_drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct worker_drain *d = arg;
	struct timespec now;
	int i, open, settled;

	(void)fd;
	(void)what;
	/* The listeners were disabled a tick ago: epoll has let go of them
	 * (they are shared with other processes, so closing them alone would
	 * not), and they can be closed. */
	for (i = 0, open = 0; i < 2; i++) {
		if (d->srv[i] == NULL)
			continue;
		http_server_close_listener(d->srv[i]);
		open += http_server_open(d->srv[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	settled = db_pool_idle(d->w->db) &&
	    evbuffer_get_length(d->w->announce) == 0;
	d->quiet_ticks = http_in_flight() == 0 && open == 0 && settled ?
	    d->quiet_ticks + 1 : 0;
	if (d->quiet_ticks >= WORKER_DRAIN_QUIET) {
		event_base_loopexit(d->base, NULL);
	} else if (now.tv_sec >= d->deadline.tv_sec) {
		log_warnx("leaving after %d s with %d requests unanswered and "
		    "%d connections open%s", d->timeout, http_in_flight(), open,
		    settled ? "" : ", writes or announcements pending (other "
		    "instances learn those changes from the change log)");
		event_base_loopexit(d->base, NULL);
	}
}

/* SIGTERM: stop accepting (the next generation, if any, takes over the
 * socket), answer what is in flight, close connections as they answer. */
static void
worker_signal(evutil_socket_t sig, short what, void *arg)
{
	struct worker_drain *d = arg;
	struct timeval tick = { 0, WORKER_DRAIN_TICK_MS * 1000 };
	int i;

	(void)what;
	if (d->ev_check != NULL)
		return;
	log_debug("signal %d: draining %d requests", (int)sig,
	    http_in_flight());
	for (i = 0; i < 2; i++)
		if (d->srv[i] != NULL)
			http_server_drain(d->srv[i]);
	clock_gettime(CLOCK_MONOTONIC, &d->deadline);
	d->deadline.tv_sec += d->timeout;
	d->ev_check = event_new(d->base, -1, EV_PERSIST, worker_drain_check, d);
	event_add(d->ev_check, &tick);
}

int
worker_main(struct config *conf, struct slot_table *table, int listen_fd,
    int tls_fd, int index)
{
	struct worker_ctx w;
	struct worker_drain drain;
	struct event_config *cfg;
	struct event_base *base;
	struct event *ev_term, *ev_int;
	struct ssl_ctx_st *ctx = NULL;
	char err[512];
	int i;

	log_set_role("worker %d", index);
	metrics_use_block(index);
	http_set_access_log(conf->access_log);
	if (tz_use(conf->timezone) == -1)
		fatalx("time zone %s cannot be loaded", conf->timezone);
	memset(&w, 0, sizeof(w));
	w.conf = conf;
	w.table = table;
	w.index = index;
	w.owner = w.who.sub;
	w.slots_cap = 256;
	w.slots = xcalloc(w.slots_cap, sizeof(*w.slots));

	/* epoll's change list folds the event changes of one turn of the
	 * loop into one epoll_ctl per descriptor. */
	if ((cfg = event_config_new()) == NULL)
		fatalx("event_config_new failed");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL)
		fatalx("event_base_new failed");
	w.db = db_pool_new(base, conf->conninfo, conf->pool_size,
	    conf->queue_size, metrics_pool_counters());
	w.announce = evbuffer_new();
	w.ev_announce = evtimer_new(base, worker_announce_flush, &w);
	memset(&drain, 0, sizeof(drain));
	drain.base = base;
	drain.w = &w;
	drain.timeout = conf->shutdown_timeout;
	if (listen_fd != -1)
		drain.srv[0] = http_server_new(base, conf, listen_fd, NULL,
		    worker_request, &w);
	if (tls_fd != -1) {
		if ((ctx = tls_context(conf, err, sizeof(err))) == NULL)
			fatalx("%s", err);
		drain.srv[1] = http_server_new(base, conf, tls_fd, ctx,
		    worker_request, &w);
	}

	ev_term = evsignal_new(base, SIGTERM, worker_signal, &drain);
	ev_int = evsignal_new(base, SIGINT, worker_signal, &drain);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);

	log_debug("serving");
	event_base_dispatch(base);

	event_free(ev_term);
	event_free(ev_int);
	if (drain.ev_check != NULL)
		event_free(drain.ev_check);
	for (i = 0; i < 2; i++)
		if (drain.srv[i] != NULL)
			http_server_free(drain.srv[i]);
	SSL_CTX_free(ctx);
	db_pool_free(w.db);
	event_free(w.ev_announce);
	evbuffer_free(w.announce);
	event_base_free(base);
	free(w.slots);
	return 0;
}
