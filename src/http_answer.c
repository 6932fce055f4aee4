/*
 * http_answer: how routes answer a request.  The answer is written (see
 * http_reply.c) and the connection moves on to the next request.
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

