/*
 * http_server: the listening socket of slotd's HTTP/1.1 layer and the
 * connections it accepted (http_conn.c serves each): accepting, pausing
 * when out of descriptors, draining.
 */
#include "config.h"		/* _GNU_SOURCE, for accept4 */

#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "http_conn.h"

#define HTTP_ACCEPT_PAUSE_MS	100	/* a pause when out of descriptors */
#define HTTP_PASS_PAUSE_MS	5	/* letting a less loaded worker accept */
#define HTTP_PASS_SKIP		8	/* connections taken without a look at
					   the others after one let pass went
					   untaken (a busy or stuck worker) */

/* Accept on the listening socket, or stop and start again. */
static void
http_server_listen(struct http_server *srv, int on)
{
	if (srv->ev_accept == NULL)
		return;
	if (on)
		event_add(srv->ev_accept, NULL);
	else
		event_del(srv->ev_accept);
}

/*
 * Take one connection, if one is queued: 1 when it was taken.  accept(2)
 * failing for want of descriptors or memory leaves the connection queued
 * and the socket ready: accepting stops for a moment rather than spin.
 */
static int
http_server_take(struct http_server *srv)
{
	struct timeval pause = { 0, HTTP_ACCEPT_PAUSE_MS * 1000 };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, err, starved;

	fd = accept4(srv->fd, (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd != -1) {
		http_conn_new(srv, fd, (struct sockaddr *)&ss);
		return 1;
	}
	err = errno;
	if (err == EAGAIN || err == EINTR || err == ECONNABORTED)
		return 0;
	starved = err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM;
	if (starved && !evtimer_pending(srv->ev_resume, NULL)) {
		http_server_listen(srv, 0);
		evtimer_add(srv->ev_resume, &pause);
	}
	log_warnx_limited(&srv->accept_log, "%s: accept: %s%s", __func__,
	    strerror(err), starved ? "; not accepting for a moment" : "");
	return 0;
}

/* The end of a pause.  A connection let pass that is still queued was
 * left by the others (busy, stopped): taken now, and the next few are
 * taken without looking at them. */
static void
http_server_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;

	(void)fd;
	(void)what;
	if (srv->draining)
		return;
	http_server_listen(srv, 1);
	if (srv->passing) {
		srv->passing = 0;
		if (http_server_take(srv))
			srv->no_pass = HTTP_PASS_SKIP;
	}
}

/*
 * One connection per wakeup, as nginx does without multi_accept.  The
 * workers sharing the socket are all woken, but whichever runs first takes
 * the connection, so a worker holding clearly more connections than
 * another stops accepting for a moment and lets that one take it (see
 * balance.c).
 */
static void
http_server_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct http_server *srv = arg;
	struct timeval pass = { 0, HTTP_PASS_PAUSE_MS * 1000 };

	(void)lfd;
	(void)what;
	if (srv->no_pass == 0 && balance_crowded(srv->conf->workers)) {
		srv->passing = 1;
		http_server_listen(srv, 0);
		evtimer_add(srv->ev_resume, &pass);
		return;
	}
	if (http_server_take(srv) && srv->no_pass > 0)
		srv->no_pass--;
}

/* Serve HTTP on the listening socket fd (a dup, closed with the server):
 * each complete request goes to handler; TLS when tls is given. */
struct http_server *
http_server_new(struct event_base *base, const struct config *conf, int fd,
    struct ssl_ctx_st *tls, http_handler handler, void *arg)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	struct timeval tv = { conf->request_timeout, 0 };

	srv->base = base;
	srv->conf = conf;
	srv->tls = tls;
	srv->handler = handler;
	srv->arg = arg;
	srv->timeout = event_base_init_common_timeout(base, &tv);
	TAILQ_INIT(&srv->conns);
	srv->ev_resume = evtimer_new(base, http_server_resume, srv);
	srv->fd = fd;
	evutil_make_socket_nonblocking(fd);
	srv->ev_accept = event_new(base, fd, EV_READ | EV_PERSIST,
	    http_server_accept, srv);
	http_server_listen(srv, 1);
	return srv;
}

/* Stop accepting (the listener is closed later, by
 * http_server_close_listener, once the loop has let go of it), answer
 * what arrived with Connection: close, end the streams, close idle
 * connections. */
void
http_server_drain(struct http_server *srv)
{
	struct http_conn *c, *next;

	srv->draining = 1;
	evtimer_del(srv->ev_resume);
	http_server_listen(srv, 0);
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		http_conn_drain(c);
	}
}

void
http_server_close_listener(struct http_server *srv)
{
	if (srv->ev_accept == NULL)
		return;
	event_free(srv->ev_accept);
	srv->ev_accept = NULL;
	close(srv->fd);
}

/* Connections still open. */
int
http_server_open(const struct http_server *srv)
{
	return srv->nconns;
}

void
http_server_free(struct http_server *srv)
{
	while (!TAILQ_EMPTY(&srv->conns))
		http_conn_drop(TAILQ_FIRST(&srv->conns));
	http_server_close_listener(srv);
	event_free(srv->ev_resume);
	free(srv);
}
