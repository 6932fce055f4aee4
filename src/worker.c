/*
 * worker: one process's libevent loop serving HTTP on the shared
 * listening sockets: each request is checked (rate limit, credentials) and
 * handed to its route; reads come from the shared slot table, writes go
 * through commit.c.  It drains on SIGTERM.  Nothing here blocks.
 */
#include <sched.h>
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

/* Who asks, and may they call rt: answers 401 or 403 itself and
 * returns -1.  The request's principal describes the caller afterwards. */
static int
worker_authorize(struct http_request *req, struct worker_ctx *w,
    const struct route *rt)
{
	struct principal *who = http_principal(req);
	const char *header;
	int admin_call = rt->access == ACCESS_ADMIN, rc;
	char why[128];

	memset(who, 0, sizeof(*who));
	if (rt->access == ACCESS_OPEN || rt->access == ACCESS_FEED)
		return 0;
	if (!w->conf->auth_jwt) {
		if (admin_call && !http_peer_loopback(req)) {
			http_problem(req, 403, "forbidden", "admin calls come "
			    "only from this host while [auth] mode = none");
			return -1;
		}
		return 0;
	}
	/* Two credentials: which one is meant is anybody's guess. */
	if (http_header_once(req, "Authorization", &header) == -1)
		return -1;
	if ((rc = auth_check(w->conf, header, who, why, sizeof(why))) ==
	    AUTH_BAD) {
		unauthorized(req, why);
		return -1;
	}
	if (rc == AUTH_NONE && !(rt->access == ACCESS_READ &&
	    w->conf->public_reads)) {
		unauthorized(req, NULL);
		return -1;
	}
	if (admin_call && !who->admin) {
		http_problem(req, 403, "forbidden", "this call is for admins");
		return -1;
	}
	return 0;
}

/* A token from the client's bucket for route rt, or 429 (-1). */
static int
worker_rate_limit(struct http_request *req, struct worker_ctx *w,
    const struct route *rt)
{
	const struct config *c = w->conf;
	char client[128], buf[128], *forwarded;
	int reads = rt->access == ACCESS_READ || rt->access == ACCESS_FEED;
	int left;
	int rate = reads ? c->reads_per_second : c->writes_per_second;
	int burst = reads ? c->reads_burst : c->writes_burst;
	const char *name = reads ? "reads" : "writes";
	uint64_t wait_ms;

	if (!c->rate_limit || rt->access == ACCESS_OPEN)
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
	char id[ROUTE_ID_MAX];
	int allowed;

	rt = route_find(http_path(req), http_method(req), id, &allowed);
	http_set_route(req, rt != NULL ? rt->metric : ROUTE_OTHER);
	if (cors_apply(req, w->conf, allowed) == -1)
		return;
	if (rt == NULL) {
		if (allowed == 0)
			http_problem(req, 404, "not-found", "no such resource");
		else
			http_method_not_allowed(req, allowed);
		return;
	}
	if (worker_rate_limit(req, w, rt) == -1 ||
	    worker_authorize(req, w, rt) == -1)
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
	settled = commit_settled(d->w->commit);
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
 * socket), answer what is in flight, end the streams, close connections
 * as they answer. */
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
	balance_gone(getpid());
	for (i = 0; i < 2; i++)
		if (d->srv[i] != NULL)
			http_server_drain(d->srv[i]);
	clock_gettime(CLOCK_MONOTONIC, &d->deadline);
	d->deadline.tv_sec += d->timeout;
	d->ev_check = event_new(d->base, -1, EV_PERSIST, worker_drain_check, d);
	event_add(d->ev_check, &tick);
}

/* A turn of the loop that found this many events ready at once means the
 * worker is busy: clients are waiting on it, and it on them. */
#define WORKER_BUSY_EVENTS	4

/* event_base_dispatch, giving up the CPU after each busy turn of the loop.
 * A worker that never runs dry never sleeps, so it is never woken, and a
 * client sharing its core (wrk, a proxy, PostgreSQL's backend) waits for
 * the tick to end its slice; once everything ready is answered, yielding
 * lets it run now.  A quiet worker does not yield: it sleeps in the next
 * turn anyway, and the yield would only cost it its place when it is
 * woken.  With nothing else runnable, sched_yield returns at once.  Ends
 * on break or exit, or when no event is left, as event_base_dispatch
 * does. */
static void
worker_loop(struct event_base *base)
{
	while (event_base_loop(base, EVLOOP_ONCE) == 0 &&
	    !event_base_got_break(base) && !event_base_got_exit(base))
		if (event_base_get_max_events(base, EVENT_BASE_COUNT_ACTIVE,
		    1) >= WORKER_BUSY_EVENTS)
			sched_yield();
}

int
worker_main(struct config *conf, struct slot_table *table, int listen_fd,
    int tls_fd, int index)
{
	struct worker_ctx w;
	struct worker_drain drain;
	struct event_config *cfg;
	struct event_base *base;
	static const int sigs[] = { SIGTERM, SIGINT };
	struct signal_watch signals;
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
	w.commit = commit_new(base, conf, table);
	stream_init(base, table);
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

	signals_watch(&signals, base, sigs, 2, worker_signal, &drain);

	/* Counted by the others only now that it can take connections. */
	balance_join(index);
	log_debug("serving");
	worker_loop(base);

	signals_unwatch(&signals);
	if (drain.ev_check != NULL)
		event_free(drain.ev_check);
	for (i = 0; i < 2; i++)
		if (drain.srv[i] != NULL)
			http_server_free(drain.srv[i]);
	stream_free();
	SSL_CTX_free(ctx);
	commit_free(w.commit);
	event_base_free(base);
	free(w.slots);
	return 0;
}
