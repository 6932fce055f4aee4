/*
 * http_answer: how routes answer a request.  The answer is written (see
 * http_reply.c) and the connection moves on to the next request; or it
 * is a stream, whose pieces follow until it ends, and the connection
 * closes after it.
 */
#include <stdarg.h>
#include <stdio.h>

#include <event2/buffer.h>

#include "http_conn.h"

/* Answer with these bytes as the body. */
void
http_answer(struct http_request *r, int status, const char *type,
    const void *body, size_t len)
{
	if (r->answered)
		return;
	http_reply_write(r, status, type, body, len);
	http_conn_answered(r->conn);
}

/* Answer with an application/problem+json body carrying a stable code. */
void
http_problem(struct http_request *r, int status, const char *code,
    const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	if (r->answered)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	http_reply_problem(r, status, code, detail);
	http_conn_answered(r->conn);
}

/* An answer whose body was made in an evbuffer (drained). */
void
http_reply(struct http_request *r, int status, struct evbuffer *body)
{
	http_send(r, status, NULL, body);
}

void
http_send(struct http_request *r, int status, const char *type,
    struct evbuffer *body)
{
	size_t len = body != NULL ? evbuffer_get_length(body) : 0;

	http_answer(r, status, type, len > 0 ? evbuffer_pullup(body, -1) :
	    NULL, len);
}

/* A document made with emit: its content type, and Location when given. */
void
http_send_doc(struct http_request *r, int status, struct evbuffer *body,
    int msgpack, const char *location)
{
	if (location != NULL)
		http_add_header(r, "Location", location);
	http_send(r, status, msgpack ? "application/msgpack" :
	    "application/json", body);
}

/* From a route's handler: answer 200 with a stream of type: 1, and its
 * pieces follow (http_stream_send) until gone(arg) is told that it ended
 * (the client left or fell too far behind, or the worker drains), and
 * never after; the request stays valid until the handler returns.  A HEAD
 * is answered with the head alone: 0, and gone is never told.  -1, and
 * nothing is answered, while the worker drains. */
int
http_stream_start(struct http_request *r, const char *type, http_gone gone,
    void *arg)
{
	if (r->answered || r->conn->srv->draining)
		return -1;
	http_reply_stream_head(r, type);
	if (r->head) {
		http_conn_answered(r->conn);
		return 0;
	}
	http_conn_stream(r->conn, gone, arg);
	return 1;
}

/* A piece of the stream, written at once as far as the socket takes it.
 * A client that cannot keep up is let go: gone is told, maybe before this
 * returns. */
void
http_stream_send(struct http_request *r, const void *data, size_t len)
{
	http_reply_chunk(r->conn, data, len);
	http_conn_push(r->conn, len);
}
