/*
 * http_conn: slotd's HTTP/1.1 connections.
 *
 * Each connection owns one input and one output buffer and one request
 * object, kept across its requests: a request is parsed in place (see
 * http_parse.c), answered into the output buffer, and written with one
 * write; the next request, already there when pipelined, follows once the
 * answer is queued, so answers keep the order of requests.  A deadline
 * bounds each request from its first byte, and an idle connection is
 * closed after as long.  TLS runs on the same buffers through OpenSSL.
 * A request may be answered with a stream (http_stream_start): its pieces
 * follow as they come, outside the deadline, until the client leaves or
 * the worker drains, and the connection closes after it.  Draining
 * answers every request that arrived (with Connection: close), ends the
 * streams and closes the idle connections.  The listener that accepts
 * them is http_server.c's.
 */

#include <sys/socket.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "http_conn.h"

#define HTTP_OUT_HIGH		(256 * 1024)	/* stop reading above */
#define HTTP_IN_HIGH		(64 * 1024)	/* read ahead at most */
#define HTTP_LINGER_SECONDS	2
#define HTTP_DRAIN_GRACE	1	/* seconds for a new connection's first
					   request when draining */
#define HTTP_STREAM_BEHIND	(256 * 1024)	/* a stream's client this far
						   behind is let go */

static int	http_requests_open;	/* dispatched, not yet answered */

static void	http_conn_io(evutil_socket_t, short, void *);
static void	http_conn_parse(struct http_conn *);

int
http_in_flight(void)
{
	return http_requests_open;
}

/* Room for n more bytes of input; -1 when the request would outgrow what
 * the limits allow (it is refused by then, so this is a backstop). */
static int
http_conn_reserve(struct http_conn *c, size_t n)
{
	const struct config *cf = c->srv->conf;
	size_t most = (size_t)cf->max_uri_bytes + cf->max_header_bytes +
	    4 * (size_t)cf->max_headers + cf->max_body_bytes + 65536, cap;

	if (c->in_len + n <= c->in_cap)
		return 0;
	if (c->in_len + n > most)
		return -1;
	for (cap = c->in_cap ? c->in_cap : HTTP_BUF_FIRST;
	    cap < c->in_len + n; cap *= 2)
		;
	c->in = xreallocarray(c->in, 1, cap);
	c->in_cap = cap;
	return 0;
}

/* Watch the socket for what: EV_READ, EV_WRITE, both or none. */
static void
http_conn_watch(struct http_conn *c, short what)
{
	if (c->watching == what)
		return;
	event_del(c->ev);
	event_assign(c->ev, c->srv->base, c->fd, what | EV_PERSIST,
	    http_conn_io, c);
	if (what != 0)
		event_add(c->ev, NULL);
	c->watching = what;
}

static void
http_conn_deadline(struct http_conn *c, int seconds)
{
	struct timeval tv = { seconds, 0 };

	if (seconds == c->srv->conf->request_timeout && c->srv->timeout)
		evtimer_add(c->ev_timer, c->srv->timeout);
	else
		evtimer_add(c->ev_timer, &tv);
}

/* Close and free the connection.  A request whose answer is awaited is
 * left to its pending: it learns that the client has gone; a stream's
 * owner is told. */
static void
http_conn_free(struct http_conn *c)
{
	struct http_request *r = &c->req;

	if (c->state == HTTP_HANDLING && !r->answered) {
		if (r->pending != NULL)
			r->pending->req = NULL;
		metrics_request(r->route, 499, 0);
		http_requests_open--;
	}
	if (c->state == HTTP_STREAMING)
		c->gone(c->gone_arg);
	TAILQ_REMOVE(&c->srv->conns, c, entry);
	c->srv->nconns--;
	balance_add(-1);
	event_free(c->ev);
	event_free(c->ev_timer);
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c->in);
	free(c->out);
	free(r->fields);
	free(r->extra);
	free(c);
}

/* Close a connection whose request cannot be answered. */
void
http_conn_drop(struct http_conn *c)
{
	http_conn_free(c);
}

/* Read what the socket has into the input buffer: >0 bytes, 0 at the
 * end, -1 on error, -2 when nothing is there yet. */
static ssize_t
http_conn_recv(struct http_conn *c)
{
	ssize_t n;
	int e;

	if (http_conn_reserve(c, 2048) == -1)
		return -1;
	if (c->ssl == NULL) {
		n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? -2 : -1;
	} else {
		ERR_clear_error();
		n = SSL_read(c->ssl, c->in + c->in_len,
		    (int)(c->in_cap - c->in_len));
		if (n <= 0) {
			e = SSL_get_error(c->ssl, (int)n);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				/* A handshake may have to write first. */
				c->tls_wants = e == SSL_ERROR_WANT_WRITE ?
				    EV_WRITE : 0;
				return -2;
			}
			return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
		}
	}
	if (n > 0)
		c->in_len += (size_t)n;
	return n;
}

/* Write what waits; -1 when the connection is broken. */
static int
http_conn_flush(struct http_conn *c)
{
	ssize_t n;
	int e;

	while (c->out_sent < c->out_len) {
		if (c->ssl == NULL) {
			n = write(c->fd, c->out + c->out_sent,
			    c->out_len - c->out_sent);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				break;
		} else {
			ERR_clear_error();
			n = SSL_write(c->ssl, c->out + c->out_sent,
			    (int)(c->out_len - c->out_sent));
			if (n <= 0) {
				e = SSL_get_error(c->ssl, (int)n);
				if (e == SSL_ERROR_WANT_WRITE ||
				    e == SSL_ERROR_WANT_READ)
					break;
				n = -1;
			}
		}
		if (n <= 0)
			return -1;
		c->out_sent += (size_t)n;
	}
	if (c->out_sent == c->out_len) {
		c->out_sent = c->out_len = 0;
		if (c->out_cap > HTTP_OUT_HIGH) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
	return 0;
}

/* The last answer is out: stop sending, and read what the client still
 * sends for a moment, so that closing does not reset the connection
 * before it has read the answer (RFC 9112 section 9.6). */
static void
http_conn_linger(struct http_conn *c)
{
	c->state = HTTP_LINGERING;
	if (c->ssl == NULL)
		shutdown(c->fd, SHUT_WR);
	http_conn_watch(c, EV_READ);
	http_conn_deadline(c, HTTP_LINGER_SECONDS);
}

/* After a write or a state change: what to watch next.  A connection
 * that has written its last answer, or sits idle while the worker drains,
 * lingers to its close. */
static void
http_conn_settle(struct http_conn *c)
{
	short what = 0;

	if (c->out_len > 0 || c->tls_wants)
		what |= EV_WRITE;
	else if (c->state == HTTP_CLOSING || (c->srv->draining &&
	    c->state == HTTP_IDLE && c->in_len == 0)) {
		http_conn_linger(c);
		return;
	}
	/* While an answer is awaited, pipelined requests are read ahead,
	 * but only so far.  A stream's client is heard out to its leaving. */
	if (c->state == HTTP_LINGERING || c->state == HTTP_STREAMING ||
	    (c->out_len < HTTP_OUT_HIGH &&
	    (c->state == HTTP_IDLE || c->state == HTTP_READING ||
	    (c->state == HTTP_HANDLING && c->in_len < HTTP_IN_HIGH))))
		what |= EV_READ;
	http_conn_watch(c, what);
}

/* The request is answered (the answer is queued): on to the next one, or
 * to closing. */
void
http_conn_answered(struct http_conn *c)
{
	struct http_request *r = &c->req;

	r->answered = 1;
	c->served++;
	http_requests_open--;
	if (!r->keep_alive || c->srv->draining) {
		c->state = HTTP_CLOSING;
		evtimer_del(c->ev_timer);
		http_conn_deadline(c, c->srv->conf->request_timeout);
	} else {
		memmove(c->in, c->in + c->parsed, c->in_len - c->parsed);
		c->in_len -= c->parsed;
		c->parsed = 0;
		http_parse_reset(c);
		c->state = HTTP_IDLE;
		http_conn_deadline(c, c->srv->conf->request_timeout);
		if (c->in_cap > HTTP_BUF_FIRST && c->in_len <= HTTP_BUF_FIRST) {
			c->in = xreallocarray(c->in, 1, HTTP_BUF_FIRST);
			c->in_cap = HTTP_BUF_FIRST;
		}
	}
	if (http_conn_flush(c) == -1) {
		if (!c->in_parse) {
			http_conn_free(c);
			return;
		}
		c->state = HTTP_CLOSING;
		c->closing = 1;
		return;
	}
	if (!c->in_parse) {
		if (c->state == HTTP_IDLE && c->in_len > 0)
			http_conn_parse(c);
		else
			http_conn_settle(c);
	}
}

/* The request is answered with a stream: its head is queued, and its
 * pieces follow (http_conn_push) until the client leaves, the worker
 * drains or the client falls too far behind, when gone(arg) is told.  The
 * request no longer counts as in flight nor has a deadline; what the
 * client sent after it is dropped, as is what it sends later, since the
 * connection closes after the stream. */
void
http_conn_stream(struct http_conn *c, http_gone gone, void *arg)
{
	c->req.answered = 1;
	c->served++;
	http_requests_open--;
	c->state = HTTP_STREAMING;
	c->gone = gone;
	c->gone_arg = arg;
	evtimer_del(c->ev_timer);
	c->in_len = c->parsed = 0;
	http_conn_push(c, 0);
}

/* Write what a stream has queued, as far as the socket takes it; -1 when
 * the connection is closed (or closes once its parse is over): its client
 * is gone, or too slow, with more than HTTP_STREAM_BEHIND bytes still
 * unsent before the last piece (of piece bytes). */
int
http_conn_push(struct http_conn *c, size_t piece)
{
	size_t unsent;

	if (http_conn_flush(c) == 0) {
		unsent = c->out_len - c->out_sent;
		if (unsent <= piece || unsent - piece <= HTTP_STREAM_BEHIND) {
			if (!c->in_parse)
				http_conn_settle(c);
			return 0;
		}
	}
	if (c->in_parse)
		c->closing = 1;
	else
		http_conn_free(c);
	return -1;
}

/* Draining: the stream ends (its last chunk, then the close), and its
 * owner is told. */
static void
http_conn_stream_end(struct http_conn *c)
{
	c->gone(c->gone_arg);
	if (c->chunked)
		http_reply_chunk(c, NULL, 0);
	c->state = HTTP_CLOSING;
	http_conn_deadline(c, c->srv->conf->request_timeout);
	if (http_conn_flush(c) == -1)
		http_conn_free(c);
	else
		http_conn_settle(c);
}

/* Answer a request refused while it was read (its problem is in the
 * request's fail_ fields), as a dispatched request would be. */
static void
http_conn_refuse(struct http_conn *c)
{
	c->state = HTTP_HANDLING;
	http_requests_open++;
	http_reply_refusal(&c->req);
	http_conn_answered(c);
}

/* Parse what arrived; dispatch each complete request in turn. */
static void
http_conn_parse(struct http_conn *c)
{
	struct http_request *r = &c->req;
	int rc;

	c->in_parse = 1;
	while (c->state == HTTP_IDLE || c->state == HTTP_READING) {
		if (c->state == HTTP_IDLE && c->in_len == 0)
			break;
		if (c->state == HTTP_IDLE) {
			c->state = HTTP_READING;
			clock_gettime(CLOCK_MONOTONIC, &r->start);
			http_conn_deadline(c, c->srv->conf->request_timeout);
		}
		if ((rc = http_parse_feed(c)) == 0) {
			/* The body of an Expect: 100-continue may come. */
			if (r->continue_wanted == 1) {
				r->continue_wanted = 2;
				http_reply_continue(c);
				http_conn_flush(c);
			}
			break;
		}
		evtimer_del(c->ev_timer);
		if (rc == -1) {
			http_conn_refuse(c);
			continue;
		}
		c->state = HTTP_HANDLING;
		http_requests_open++;
		c->srv->handler(r, c->srv->arg);
	}
	c->in_parse = 0;
	if (c->closing) {
		http_conn_free(c);
		return;
	}
	http_conn_settle(c);
}

static void
http_conn_io(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	ssize_t n;

	(void)fd;
	if ((what & EV_WRITE) || (c->ssl != NULL && c->out_len > 0)) {
		if (http_conn_flush(c) == -1) {
			http_conn_free(c);
			return;
		}
	}
	if ((what & EV_READ) || ((what & EV_WRITE) && c->tls_wants)) {
		c->tls_wants = 0;
		if (c->state == HTTP_LINGERING ||
		    c->state == HTTP_STREAMING) {
			/* What still comes is read and dropped; the end (or
			 * an error) closes. */
			c->in_len = c->parsed = 0;
			n = http_conn_recv(c);
			c->in_len = 0;
			if (n == 0 || n == -1)
				http_conn_free(c);
			else if (c->state == HTTP_STREAMING)
				http_conn_settle(c);
			return;
		}
		do {
			n = http_conn_recv(c);
		} while (n > 0 && c->ssl != NULL && SSL_pending(c->ssl) > 0);
		if (n == 0 || n == -1) {
			/* A client that leaves while its answer is awaited
			 * is told (http_conn_free); the answer is dropped. */
			http_conn_free(c);
			return;
		}
		if (c->state == HTTP_IDLE || c->state == HTTP_READING) {
			http_conn_parse(c);
			return;
		}
	}
	http_conn_settle(c);
}

/* The deadline passed: a request begun but not complete gets 408; an
 * idle, lingering or stuck connection is closed. */
static void
http_conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == HTTP_READING && c->in_len > 0) {
		c->req.fail_status = 408;
		c->req.fail_code = "bad-request";
		snprintf(c->req.fail_detail, sizeof(c->req.fail_detail),
		    "the request must arrive within %d s",
		    c->srv->conf->request_timeout);
		http_conn_refuse(c);
		return;
	}
	http_conn_free(c);
}

/* A connection on the socket fd, accepted from sa. */
void
http_conn_new(struct http_server *srv, int fd, struct sockaddr *sa)
{
	struct http_conn *c;
	int one = 1;

	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->fd = fd;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr,
		    c->peer, sizeof(c->peer));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)(void *)sa)->sin6_addr, c->peer,
		    sizeof(c->peer));
	else
		snprintf(c->peer, sizeof(c->peer), "-");
	if (srv->tls != NULL) {
		if ((c->ssl = SSL_new(srv->tls)) == NULL ||
		    SSL_set_fd(c->ssl, fd) != 1) {
			log_warnx("%s: cannot start TLS", __func__);
			if (c->ssl != NULL)
				SSL_free(c->ssl);
			close(fd);
			free(c);
			return;
		}
		SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_set_accept_state(c->ssl);
	}
	c->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, http_conn_io,
	    c);
	c->ev_timer = evtimer_new(srv->base, http_conn_timeout, c);
	event_add(c->ev, NULL);
	c->watching = EV_READ;
	http_parse_init(c);
	http_parse_reset(c);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	balance_add(1);
	http_conn_deadline(c, srv->conf->request_timeout);
}

/* Draining: a stream ends; an idle connection takes what it may have been
 * sent as a request, or gets a moment for the first one if it was
 * accepted just now, or goes. */
void
http_conn_drain(struct http_conn *c)
{
	if (c->state == HTTP_STREAMING) {
		http_conn_stream_end(c);
		return;
	}
	if (c->state != HTTP_IDLE || c->out_len > 0)
		return;
	/* Bytes may be waiting unread: take them as a request. */
	if (http_conn_recv(c) > 0) {
		http_conn_parse(c);
		return;
	}
	/* A connection accepted a moment ago has its request on the way: a
	 * short while for it.  An idle keep-alive one goes. */
	if (c->served == 0)
		http_conn_deadline(c, HTTP_DRAIN_GRACE);
	else
		http_conn_free(c);
}
