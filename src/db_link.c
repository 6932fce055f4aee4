/*
 * db_link: one non-blocking libpq connection driven by a libevent loop,
 * shared by a worker's pool (db_pool.c) and the syncer.
 *
 * The link connects (PQconnectPoll, with a deadline), pumps I/O (flushes
 * what is buffered, reads results as they complete) and, whenever the
 * connection is lost, closes it and connects again after a growing,
 * jittered delay.  Its owner talks through a few callbacks: up once
 * connected, result for every result of the statement in flight, done
 * when that statement is over, idle when input came while none was (the
 * syncer's notifications), down when the connection went.  Nothing here
 * blocks.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "slotd.h"

#define DB_BACKOFF_MIN_MS	100
#define DB_BACKOFF_MAX_MS	5000
#define DB_CONNECT_TIMEOUT	10	/* seconds; PQconnectPoll has none */

static void	db_link_io(evutil_socket_t, short, void *);

/* (Re)arm the link's event for what on its current socket.  While
 * connecting the event is always made anew: libpq may close a socket and
 * open another with the same number, which epoll has forgotten. */
static void
db_link_watch(struct db_link *l, short what)
{
	int fd = PQsocket(l->conn);

	if (l->ev != NULL && (l->connecting || event_get_fd(l->ev) != fd ||
	    event_get_events(l->ev) != (what | EV_PERSIST))) {
		event_free(l->ev);
		l->ev = NULL;
	}
	if (l->ev == NULL && fd >= 0) {
		l->ev = event_new(l->base, fd, what | EV_PERSIST, db_link_io, l);
		event_add(l->ev, NULL);
	}
}

/* Start a connection (PQconnectStartParams) whose notices and warnings go
 * to the log from the first on.  TCP keepalives (and the server options
 * given, if any) are defaults the conninfo may override: keepalives notice
 * a peer that vanished without closing the connection. */
struct pg_conn *
db_connect_start(const char *conninfo, const char *app, const char *options)
{
	const char *keys[] = { "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "tcp_user_timeout", "options", "dbname",
	    "fallback_application_name", NULL };
	const char *values[] = { "30", "10", "3", "60000", options, conninfo,
	    app, NULL };
	PGconn *conn = PQconnectStartParams(keys, values, 1);

	if (conn != NULL)
		PQsetNoticeReceiver(conn, log_libpq, NULL);
	return conn;
}

/* The first line of the connection's last error.  What the server said
 * before it went (a terminated backend's FATAL, unread while the link was
 * idle) goes to the notice receiver first. */
static const char *
db_link_error(struct db_link *l, char *buf, size_t len)
{
	const char *msg;

	if (l->conn != NULL && PQstatus(l->conn) == CONNECTION_BAD)
		(void)PQisBusy(l->conn);	/* parses what is buffered */
	msg = l->conn != NULL ? PQerrorMessage(l->conn) : "";
	snprintf(buf, len, "%.*s", (int)strcspn(msg, "\n"),
	    *msg != '\0' ? msg : "connection lost");
	return buf;
}

/* Close the connection; the link may connect again. */
static void
db_link_close(struct db_link *l)
{
	if (l->ev != NULL)
		event_free(l->ev);
	l->ev = NULL;
	evtimer_del(l->ev_timeout);
	if (l->conn != NULL)
		PQfinish(l->conn);
	l->conn = NULL;
	l->connecting = 0;
	l->busy = 0;
}

/* Lose the connection (what was being done names the cause in the log),
 * tell the owner, and connect again after a growing, jittered delay. */
void
db_link_fail(struct db_link *l, const char *what)
{
	struct timeval tv;
	char why[256];
	int ms;

	/* Log going down, and a first failed attempt; not every retry. */
	if (!l->connecting || l->backoff_ms == DB_BACKOFF_MIN_MS)
		log_warnx("%s: %s: %s", l->name, what,
		    db_link_error(l, why, sizeof(why)));
	db_link_close(l);
	l->ops->down(l->arg);
	ms = l->backoff_ms / 2 + rand() % (l->backoff_ms / 2 + 1);
	l->backoff_ms = l->backoff_ms * 2 > DB_BACKOFF_MAX_MS ?
	    DB_BACKOFF_MAX_MS : l->backoff_ms * 2;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(l->ev_retry, &tv);
}

/* Start connecting. */
void
db_link_connect(struct db_link *l)
{
	struct timeval tv = { DB_CONNECT_TIMEOUT, 0 };

	l->conn = db_connect_start(l->conninfo, l->app, l->options);
	l->connecting = 1;
	if (l->conn == NULL || PQstatus(l->conn) == CONNECTION_BAD) {
		db_link_fail(l, "connect");
		return;
	}
	evtimer_add(l->ev_timeout, &tv);
	db_link_watch(l, EV_WRITE);
}

/* Push buffered output; watch for writability until it is all out. */
static int
db_link_flush(struct db_link *l)
{
	int r = PQflush(l->conn);

	if (r == -1)
		return -1;
	db_link_watch(l, r == 1 ? EV_READ | EV_WRITE : EV_READ);
	return 0;
}

/* After a PQsend* call (ok: what it returned): push the statement out;
 * it is in flight then.  -1 when it could not be sent: the caller fails
 * the link. */
int
db_link_sent(struct db_link *l, int ok)
{
	if (!ok || db_link_flush(l) == -1)
		return -1;
	l->busy = 1;
	return 0;
}

/* The owner finds the connection healthy: the next loss retries soon. */
void
db_link_healthy(struct db_link *l)
{
	l->backoff_ms = DB_BACKOFF_MIN_MS;
}

/* Whether the link is connected, or was a moment ago and is connecting
 * again at once (so that a query may wait for it). */
int
db_link_usable(const struct db_link *l)
{
	return (l->conn != NULL && !l->connecting) ||
	    (l->connecting && l->backoff_ms <= DB_BACKOFF_MIN_MS);
}

/* Advance a connection attempt on an event: 1 when connected, 0 while
 * pending, -1 on failure or timeout. */
static int
db_link_poll(struct db_link *l, short what)
{
	if (what & EV_TIMEOUT) {
		log_warnx("%s: connection attempt timed out after %d s",
		    l->name, DB_CONNECT_TIMEOUT);
		return -1;
	}
	switch (PQconnectPoll(l->conn)) {
	case PGRES_POLLING_READING:
		db_link_watch(l, EV_READ);
		return 0;
	case PGRES_POLLING_WRITING:
		db_link_watch(l, EV_WRITE);
		return 0;
	case PGRES_POLLING_OK:
		l->connecting = 0;
		evtimer_del(l->ev_timeout);
		if (PQsetnonblocking(l->conn, 1) == -1)
			return -1;
		db_link_watch(l, EV_READ);
		return 1;
	default:
		return -1;
	}
}

/* Read every result that is complete; the owner may send the next
 * statement from done, or fail the link from any callback. */
static void
db_link_read(struct db_link *l)
{
	PGresult *res;

	while (l->conn != NULL && l->busy && !PQisBusy(l->conn)) {
		if ((res = PQgetResult(l->conn)) != NULL) {
			l->ops->result(res, l->arg);
			continue;
		}
		l->busy = 0;
		l->ops->done(l->arg);
	}
	if (l->conn != NULL && !l->busy && l->ops->idle != NULL)
		l->ops->idle(l->arg);
	if (l->conn != NULL && PQstatus(l->conn) == CONNECTION_BAD)
		db_link_fail(l, "connection");
}

static void
db_link_io(evutil_socket_t fd, short what, void *arg)
{
	struct db_link *l = arg;

	(void)fd;
	if (l->connecting) {
		switch (db_link_poll(l, what)) {
		case 1:
			l->ops->up(l->arg);
			break;
		case -1:
			db_link_fail(l, "connect");
			break;
		}
		return;
	}
	if ((what & EV_WRITE) && db_link_flush(l) == -1) {
		db_link_fail(l, "send");
		return;
	}
	if (!(what & EV_READ))
		return;
	if (!PQconsumeInput(l->conn)) {
		db_link_fail(l, "receive");
		return;
	}
	db_link_read(l);
}

static void
db_link_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_link_connect(arg);
}

/* Make a link (not yet connecting) whose log lines start with name. */
void
db_link_init(struct db_link *l, struct event_base *base, const char *name,
    const struct db_link_params *params, const struct db_link_ops *ops,
    void *arg)
{
	memset(l, 0, sizeof(*l));
	l->base = base;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->conninfo = params->conninfo;
	l->app = params->app;
	l->options = params->options;
	l->ops = ops;
	l->arg = arg;
	l->backoff_ms = DB_BACKOFF_MIN_MS;
	l->ev_timeout = evtimer_new(base, db_link_io, l);
	l->ev_retry = evtimer_new(base, db_link_retry, l);
}

/* How long an owner pacing its statements rests after one sent at sent:
 * times as long as it took until now.  A quiet database answers at once
 * and the rest is as short; a busy one answers slowly, and the owner
 * takes a smaller share of it. */
void
db_link_rest(const struct timeval *sent, int times, struct timeval *rest)
{
	struct timeval now;
	int64_t us;

	gettimeofday(&now, NULL);
	timersub(&now, sent, rest);
	us = ((int64_t)rest->tv_sec * 1000000 + rest->tv_usec) * times;
	rest->tv_sec = (time_t)(us / 1000000);
	rest->tv_usec = (suseconds_t)(us % 1000000);
}

/* Close and release the link for good. */
void
db_link_free(struct db_link *l)
{
	if (l->ev_timeout == NULL)
		return;
	db_link_close(l);
	event_free(l->ev_timeout);
	event_free(l->ev_retry);
	l->ev_timeout = l->ev_retry = NULL;
}
