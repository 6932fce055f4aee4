/*
 * http_reply: answers.  The status line, the headers (a cached Date, the
 * route's own, Content-Length, Connection) and the body go into the
 * connection's output buffer in one piece; HEAD, 204 and 304 carry no
 * body.  A stream's head has no length, and its body follows in chunks
 * (in HTTP/1.0, until the close).  Problem details (RFC 9457) are always
 * valid UTF-8 JSON, whatever bytes the request held.  Every answer is counted and logged here.  What
 * comes after an answer is the connection's business (http_answer.c).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "http_conn.h"

static int	http_log_access = 1;

static const struct {
	const char	*code;
	const char	*title;
} problem_titles[] = {
	{ "bad-request", "Bad request" },
	{ "invalid-date", "Invalid date" },
	{ "invalid-field", "Invalid field" },
	{ "unknown-field", "Unknown field" },
	{ "invalid-json", "Invalid JSON" },
	{ "unsupported-media-type", "Unsupported media type" },
	{ "payload-too-large", "Payload too large" },
	{ "uri-too-long", "URI too long" },
	{ "headers-too-large", "Request headers too large" },
	{ "not-found", "Not found" },
	{ "slot-not-found", "Slot not found" },
	{ "slot-full", "Slot is full" },
	{ "slot-in-past", "Slot has started" },
	{ "slot-overlap", "Slots overlap" },
	{ "slot-has-bookings", "Slot has bookings" },
	{ "capacity-below-booked", "Capacity below seats taken" },
	{ "not-consecutive", "Slots are not consecutive" },
	{ "too-many-slots", "Too many slots" },
	{ "hold-expired", "Hold expired" },
	{ "idempotency-key-reused", "Idempotency key reused" },
	{ "unauthorized", "Unauthorized" },
	{ "forbidden", "Forbidden" },
	{ "rate-limited", "Too many requests" },
	{ "method-not-allowed", "Method not allowed" },
	{ "unavailable", "Service unavailable" },
	{ "internal", "Internal error" },
	{ "calendar-not-found", "Calendar not found" },
	{ "calendar-has-bookings", "Calendar has bookings" },
	{ "calendar-managed-by-config", "Calendar is managed by the "
	    "configuration" },
	{ "outside-booking-window", "Outside the booking window" },
	{ "cancel-window-closed", "Cancel window closed" },
	{ "slot-available", "Slot has a free seat" },
	{ "already-waiting", "Already waiting" },
	{ "waitlist-not-found", "Waitlist entry not found" },
	{ "webhook-not-found", "Webhook not found" },
	{ "invalid-cursor", "Invalid cursor" },
};

static const struct {
	int		 status;
	const char	*reason;
} reasons[] = {
	{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" },
	{ 204, "No Content" }, { 304, "Not Modified" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" },
	{ 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
	{ 409, "Conflict" }, { 410, "Gone" }, { 411, "Length Required" },
	{ 413, "Content Too Large" }, { 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" }, { 417, "Expectation Failed" },
	{ 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" }, { 503, "Service Unavailable" },
	{ 505, "HTTP Version Not Supported" },
};

/* Append to the answers waiting to be written. */
static void
http_reply_queue(struct http_conn *c, const void *data, size_t n)
{
	size_t cap;

	if (c->out_len + n > c->out_cap) {
		for (cap = c->out_cap ? c->out_cap : HTTP_BUF_FIRST;
		    cap < c->out_len + n; cap *= 2)
			;
		c->out = xreallocarray(c->out, 1, cap);
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
}

void
http_set_access_log(int on)
{
	http_log_access = on;
}

static const char *
reason_of(int status)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

/* The Date header line, made once a second. */
static const char *
http_date(size_t *len)
{
	static char line[64];
	static size_t n;
	static time_t made;
	time_t now = time(NULL);
	struct tm tm;

	if (now != made) {
		gmtime_r(&now, &tm);
		n = strftime(line, sizeof(line),
		    "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		made = now;
	}
	*len = n;
	return line;
}

/* Append a string, a decimal number, or a header line to the output:
 * answers are made of these, without printf on the way. */
static void
put(struct http_conn *c, const char *s)
{
	http_reply_queue(c, s, strlen(s));
}

static void
put_number(struct http_conn *c, size_t v)
{
	char buf[24], *p = buf + sizeof(buf);

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	http_reply_queue(c, p, (size_t)(buf + sizeof(buf) - p));
}

static void
put_header(struct http_conn *c, const char *name, const char *value)
{
	put(c, name);
	http_reply_queue(c, ": ", 2);
	put(c, value);
	http_reply_queue(c, "\r\n", 2);
}

/* Add a header to the answer being made. */
void
http_add_header(struct http_request *r, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value), n = nl + vl + 4, cap;
	char *p;

	if (r->extra_len + n > r->extra_cap) {
		for (cap = r->extra_cap ? r->extra_cap : 256;
		    cap < r->extra_len + n; cap *= 2)
			;
		r->extra = xreallocarray(r->extra, 1, cap);
		r->extra_cap = cap;
	}
	p = r->extra + r->extra_len;
	memcpy(p, name, nl);
	memcpy(p + nl, ": ", 2);
	memcpy(p + nl + 2, value, vl);
	memcpy(p + nl + 2 + vl, "\r\n", 2);
	r->extra_len += n;
}

/* Add name to the answer's Vary header (one header, comma separated). */
void
http_vary(struct http_request *r, const char *name)
{
	size_t n = strlen(r->vary), len = strlen(name);

	if (n + 2 + len >= sizeof(r->vary))
		fatalx("%s: Vary %s does not fit", __func__, name);
	if (n > 0) {
		memcpy(r->vary + n, ", ", 2);
		n += 2;
	}
	memcpy(r->vary + n, name, len + 1);
}

static uint64_t
elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)((now.tv_sec - start->tv_sec) * 1000000 +
	    (now.tv_nsec - start->tv_nsec) / 1000);
}

/* The query q as the access log shows it, in out: the value of a token
 * parameter (a calendar's feed token, which is a credential) becomes
 * "-". */
static const char *
access_query(const char *q, char *out, size_t len)
{
	size_t o = 0, n;
	int secret;

	out[0] = '\0';
	while (o + 1 < len) {
		n = strcspn(q, "&");
		secret = n >= 6 && strncmp(q, "token=", 6) == 0;
		o += (size_t)snprintf(out + o, len - o, "%.*s%s",
		    secret ? 6 : (int)n, q, secret ? "-" : "");
		if (q[n] == '\0' || o + 1 >= len)
			break;
		q += n + 1;
		out[o++] = '&';
		out[o] = '\0';
	}
	return out;
}

/* Count and log the answer. */
static void
http_account(struct http_request *r, int status, size_t len)
{
	struct http_conn *c = r->conn;
	uint64_t us = elapsed_us(&r->start);
	char query[201];

	metrics_request(r->route, status, us);
	if (!http_log_access)
		return;
	log_info("access %s \"%.*s %.200s%s%s\" %d %zu %.3fms", c->peer,
	    (int)r->method_name.len, c->in + r->method_name.off,
	    r->terminated ? c->in + r->target.off : "-",
	    r->query != 0 ? "?" : "",
	    r->query != 0 ? access_query(c->in + r->query, query,
	    sizeof(query)) : "", status, len, (double)us / 1000);
}

/* How an answer's body is delimited. */
enum http_framing {
	HTTP_NO_BODY,		/* 204, 304 */
	HTTP_LENGTH,		/* Content-Length */
	HTTP_CHUNKED,		/* a stream, in HTTP/1.1 */
	HTTP_UNTIL_CLOSE	/* a stream, in HTTP/1.0 */
};

/* The status line and the headers of an answer. */
static void
http_reply_head(struct http_request *r, int status, const char *type,
    enum http_framing framing, size_t len)
{
	struct http_conn *c = r->conn;
	const char *date;
	size_t n;

	if (c->srv->draining)
		r->keep_alive = 0;
	http_reply_queue(c, "HTTP/1.1 ", 9);
	put_number(c, (size_t)status);
	http_reply_queue(c, " ", 1);
	put(c, reason_of(status));
	http_reply_queue(c, "\r\n", 2);
	date = http_date(&n);
	http_reply_queue(c, date, n);
	if (type != NULL)
		put_header(c, "Content-Type", type);
	if (framing == HTTP_LENGTH) {
		http_reply_queue(c, "Content-Length: ", 16);
		put_number(c, len);
		http_reply_queue(c, "\r\n", 2);
	} else if (framing == HTTP_CHUNKED)
		put_header(c, "Transfer-Encoding", "chunked");
	if (r->vary[0] != '\0')
		put_header(c, "Vary", r->vary);
	if (r->extra_len > 0)
		http_reply_queue(c, r->extra, r->extra_len);
	if (!r->keep_alive)
		http_reply_queue(c, "Connection: close\r\n", 19);
	else if (r->minor == 0)
		http_reply_queue(c, "Connection: keep-alive\r\n", 24);
	http_reply_queue(c, "\r\n", 2);
}

/* Write the answer into the output: status line, headers, body (not for
 * HEAD, 204 and 304).  Every answer but a stream's passes here. */
void
http_reply_write(struct http_request *r, int status, const char *type,
    const void *body, size_t len)
{
	int bodyless = status == 204 || status == 304;

	if (r->answered)
		return;
	http_reply_head(r, status, type, bodyless ? HTTP_NO_BODY :
	    HTTP_LENGTH, len);
	if (!bodyless && !r->head && len > 0)
		http_reply_queue(r->conn, body, len);
	http_account(r, status, bodyless ? 0 : len);
}

/* The head of a 200 whose body comes in pieces (http_reply_chunk): chunked
 * in HTTP/1.1, delimited by the close in HTTP/1.0.  The connection closes
 * after it.  A HEAD's answer is the same head, and is complete. */
void
http_reply_stream_head(struct http_request *r, const char *type)
{
	struct http_conn *c = r->conn;

	if (!r->head)
		r->keep_alive = 0;
	c->chunked = r->minor >= 1;
	http_reply_head(r, 200, type, c->chunked ? HTTP_CHUNKED :
	    HTTP_UNTIL_CLOSE, 0);
	http_account(r, 200, 0);
}

/* A piece of a stream's body; len 0 ends the body. */
void
http_reply_chunk(struct http_conn *c, const void *data, size_t len)
{
	char size[24];

	if (!c->chunked) {
		if (len > 0)
			http_reply_queue(c, data, len);
		return;
	}
	http_reply_queue(c, size, (size_t)snprintf(size, sizeof(size),
	    "%zx\r\n", len));
	if (len > 0)
		http_reply_queue(c, data, len);
	http_reply_queue(c, "\r\n", 2);
}

static const char *
problem_title(const char *code)
{
	size_t i;

	for (i = 0; i < sizeof(problem_titles) / sizeof(problem_titles[0]);
	    i++)
		if (strcmp(problem_titles[i].code, code) == 0)
			return problem_titles[i].title;
	return "Error";
}

/* Bytes of s that do not form UTF-8 become U+FFFD. */
static size_t
utf8_clean(const char *s, char *out, size_t outlen)
{
	size_t o = 0, n;

	while (*s != '\0' && o + 4 < outlen) {
		if ((n = utf8_char(s)) == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			s++;
			continue;
		}
		memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	out[o] = '\0';
	return o;
}

/* Append s to out at *o, as it is or as a JSON string (quoted); out has
 * the room (EMIT_ESCAPE_MAX bytes for each of a quoted string's). */
static void
cat(char *out, size_t *o, const char *s)
{
	size_t n = strlen(s);

	memcpy(out + *o, s, n);
	*o += n;
}

static void
cat_quoted(char *out, size_t *o, const char *s, size_t len)
{
	size_t i, n;

	out[(*o)++] = '"';
	for (i = 0; i < len; i++) {
		if ((n = emit_json_escape((unsigned char)s[i], out + *o)) == 0)
			out[(*o)++] = s[i];
		else
			*o += n;
	}
	out[(*o)++] = '"';
}

/* Write an application/problem+json answer carrying a stable code (a
 * word, like its title, of our own), without printf or the heap. */
void
http_reply_problem(struct http_request *r, int status, const char *code,
    const char *detail)
{
	char clean[1024], body[(sizeof(clean) + 128) * EMIT_ESCAPE_MAX];
	char digits[4] = { (char)('0' + status / 100 % 10),
	    (char)('0' + status / 10 % 10), (char)('0' + status % 10), '\0' };
	const char *title = problem_title(code);
	size_t n, o = 0;

	n = utf8_clean(detail, clean, sizeof(clean));
	cat(body, &o, "{\"type\":\"/problems/");
	cat(body, &o, code);
	cat(body, &o, "\",\"title\":");
	cat_quoted(body, &o, title, strlen(title));
	cat(body, &o, ",\"status\":");
	cat(body, &o, digits);
	cat(body, &o, ",\"detail\":");
	cat_quoted(body, &o, clean, n);
	cat(body, &o, ",\"code\":\"");
	cat(body, &o, code);
	cat(body, &o, "\"}");
	if (status == 503)
		http_add_header(r, "Retry-After", "1");
	http_reply_write(r, status, "application/problem+json", body, o);
}

/* A request refused while it was read: its problem, and the close. */
void
http_reply_refusal(struct http_request *r)
{
	r->keep_alive = 0;
	http_reply_problem(r, r->fail_status, r->fail_code, r->fail_detail);
}

/* Expect: 100-continue, accepted: the client may send the body. */
void
http_reply_continue(struct http_conn *c)
{
	http_reply_queue(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}
