/*
 * http: what every route asks of a request: its method, path, query,
 * header fields and body; content negotiation, conditional requests,
 * answers that come later (after a database round trip).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "http_conn.h"

static const struct {
	int		 bit;
	const char	*name;
} method_names[] = {
	{ HTTP_METHOD_GET, "GET" }, { HTTP_METHOD_HEAD, "HEAD" },
	{ HTTP_METHOD_POST, "POST" }, { HTTP_METHOD_PUT, "PUT" },
	{ HTTP_METHOD_DELETE, "DELETE" }, { HTTP_METHOD_PATCH, "PATCH" },
	{ HTTP_METHOD_OPTIONS, "OPTIONS" },
};

/* The request's method as an HTTP_METHOD_* bit; 0 for any other. */
int
http_method(struct http_request *r)
{
	return r->method;
}

/* The target's path (as sent, not decoded) and query (NULL: none). */
const char *
http_path(struct http_request *r)
{
	return r->conn->in + r->target.off;
}

const char *
http_query(struct http_request *r)
{
	return r->query != 0 ? r->conn->in + r->query : NULL;
}

/* The client's address. */
const char *
http_peer(struct http_request *r)
{
	return r->conn->peer;
}

/* Whether the client is on this host. */
int
http_peer_loopback(struct http_request *r)
{
	const char *peer = r->conn->peer;

	return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
	    strncmp(peer, "::ffff:127.", 11) == 0;
}

/* Who sent the request, once the worker has checked its credentials. */
struct principal *
http_principal(struct http_request *r)
{
	return &r->who;
}

/* The value of the first header field of that name, or NULL. */
const char *
http_header(struct http_request *r, const char *name)
{
	const char *value;

	http_parse_field(r, name, &value);
	return value;
}

/* Which route answers the request (for the metrics). */
void
http_set_route(struct http_request *r, int route)
{
	r->route = route;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 32) >= 'a' && (c | 32) <= 'f')
		return (c | 32) - 'a' + 10;
	return -1;
}

/* Decode one part of a query (up to stop or the end) into out: %XX and
 * '+' for a space.  -1 for a bad escape, a NUL, or no room. */
static int
query_decode(const char **p, const char *stop, char *out, size_t len)
{
	const char *s = *p;
	size_t n = 0;
	int hi, lo;
	char c;

	for (; *s != '\0' && *s != '&' && strchr(stop, *s) == NULL; s++) {
		c = *s;
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if ((hi = hex_value(s[1])) == -1 ||
			    (lo = hex_value(s[2])) == -1)
				return -1;
			c = (char)(hi << 4 | lo);
			s += 2;
		}
		if (c == '\0' || n + 1 >= len)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	*p = s;
	return 0;
}

/* The next key=value pair of the query at *cursor, decoded: 1, or 0 at
 * the end, -1 when malformed (a bad escape, a NUL byte, too long). */
int
http_query_next(const char **cursor, char *key, size_t klen, char *value,
    size_t vlen)
{
	const char *p = *cursor;

	while (*p == '&')
		p++;
	if (*p == '\0')
		return 0;
	if (query_decode(&p, "=", key, klen) == -1)
		return -1;
	value[0] = '\0';
	if (*p == '=') {
		p++;
		if (query_decode(&p, "", value, vlen) == -1)
			return -1;
	}
	*cursor = p;
	return 1;
}

/* Give each parameter of the query to take, which answers and returns -1
 * when it refuses one; a malformed query is answered 400 here.  0, or -1
 * once answered. */
int
http_query_walk(struct http_request *req, int (*take)(struct http_request *,
    const char *key, const char *value, void *), void *arg)
{
	const char *q = http_query(req);
	char key[32], value[256];
	int rc;

	while (q != NULL && (rc = http_query_next(&q, key, sizeof(key), value,
	    sizeof(value))) != 0) {
		if (rc == -1) {
			http_problem(req, 400, "bad-request",
			    "malformed query string");
			return -1;
		}
		if (take(req, key, value, arg) == -1)
			return -1;
	}
	return 0;
}

/* A parameter no route of this path takes: 400, -1. */
int
http_query_unknown(struct http_request *req, const char *key)
{
	http_problem(req, 400, "bad-request", "unknown query parameter '%.64s'",
	    key);
	return -1;
}

/* The count value of parameter name (limit=, days=) in 1..max into *out;
 * -1 once answered 400. */
int
http_query_count(struct http_request *req, const char *name,
    const char *value, int max, int *out)
{
	int64_t v;

	if (http_parse_id(value, &v) == -1 || v > max) {
		http_problem(req, 400, "bad-request", "%s must be an integer in "
		    "1..%d", name, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* The body (decoded from chunks if it came so); *len its length. */
const char *
http_body(struct http_request *r, size_t *len)
{
	*len = r->body.len;
	return r->conn->in + r->body.off;
}

/* What a media range of Accept counts for: JSON and its wildcards, then
 * the other formats, each a kind of its own (as HTTP_FORMAT_* counts
 * them, from ACCEPT_FORMATS on). */
enum { ACCEPT_JSON, ACCEPT_APPLICATION, ACCEPT_ANY, ACCEPT_FORMATS,
    ACCEPT_KINDS = ACCEPT_FORMATS + HTTP_FORMATS - 1 };

static const struct {
	const char	*range;
	int		 kind;
} accept_ranges[] = {
	{ "application/json", ACCEPT_JSON },
	{ "application/*", ACCEPT_APPLICATION },
	{ "*/*", ACCEPT_ANY },
	{ "application/msgpack", ACCEPT_FORMATS + HTTP_FORMAT_MSGPACK - 1 },
	{ "application/x-msgpack", ACCEPT_FORMATS + HTTP_FORMAT_MSGPACK - 1 },
	{ "text/calendar", ACCEPT_FORMATS + HTTP_FORMAT_CALENDAR - 1 },
};

/* The end of the element that starts at p: the first of stops outside a
 * quoted string, or the end of the header. */
static const char *
accept_span(const char *p, const char *stops)
{
	for (; *p != '\0' && strchr(stops, *p) == NULL; p++) {
		if (*p != '"')
			continue;
		for (p++; *p != '\0' && *p != '"'; p++)
			if (*p == '\\' && p[1] != '\0')
				p++;
		if (*p == '\0')
			break;
	}
	return p;
}

/* [*b, *e) without the optional whitespace around it. */
static void
accept_trim(const char **b, const char **e)
{
	while (*b < *e && (**b == ' ' || **b == '\t'))
		(*b)++;
	while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* A qvalue (RFC 9110 section 12.4.2) in thousandths, or -1. */
static int
accept_qvalue(const char *s, const char *e)
{
	int q, scale = 100;

	if (s == e || (*s != '0' && *s != '1'))
		return -1;
	q = (*s++ - '0') * 1000;
	if (s < e && (*s++ != '.' || e - s > 3))
		return -1;
	for (; s < e; s++, scale /= 10) {
		if (*s < '0' || *s > '9')
			return -1;
		q += (*s - '0') * scale;
	}
	return q <= 1000 ? q : -1;
}

/* The weight of the media range whose parameters are [p, end): its q in
 * thousandths, 1000 without one, -1 when q is not a qvalue.  Other
 * parameters do not narrow the range for slotd. */
static int
accept_weight(const char *p, const char *end)
{
	const char *b, *e, *eq;

	while (p < end) {
		b = p + 1;
		p = e = accept_span(b, ",;");
		if ((eq = memchr(b, '=', (size_t)(e - b))) == NULL)
			continue;
		accept_trim(&b, &eq);
		if (eq - b != 1 || (*b != 'q' && *b != 'Q'))
			continue;
		b = eq + 1;
		accept_trim(&b, &e);
		return accept_qvalue(b, e);
	}
	return 1000;
}

/* Which of JSON and the formats offered (HTTP_OFFER bits) Accept prefers
 * (RFC 9110 section 12.5.1).  Each kind takes the highest q of its
 * ranges.  JSON, the default, has the q of application/json, else of the
 * application wildcard, else of the full wildcard.  Another format must be
 * named, with a q above 0 and not below JSON's: then the highest q wins,
 * the first in HTTP_FORMAT_* order on a tie.  Otherwise, acceptable or
 * not, the answer is JSON. */
enum http_format
http_accept(struct http_request *req, unsigned offered)
{
	const char *p = http_header(req, "Accept"), *b, *e, *end;
	int q[ACCEPT_KINDS], best_q, w, k;
	enum http_format best = HTTP_FORMAT_JSON, f;
	size_t i, n;

	if (p == NULL)
		return HTTP_FORMAT_JSON;
	for (i = 0; i < ACCEPT_KINDS; i++)
		q[i] = -1;
	for (; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = accept_span(p, ",");
		b = p;
		e = accept_span(p, ",;");
		w = accept_weight(e, end);
		accept_trim(&b, &e);
		n = (size_t)(e - b);
		for (i = 0; i < sizeof(accept_ranges) / sizeof(accept_ranges[0]);
		    i++) {
			k = accept_ranges[i].kind;
			if (strlen(accept_ranges[i].range) == n &&
			    strncasecmp(accept_ranges[i].range, b, n) == 0 &&
			    w > q[k])
				q[k] = w;
		}
	}
	best_q = q[ACCEPT_JSON] != -1 ? q[ACCEPT_JSON] :
	    q[ACCEPT_APPLICATION] != -1 ? q[ACCEPT_APPLICATION] : q[ACCEPT_ANY];
	for (f = HTTP_FORMAT_JSON + 1; f < HTTP_FORMATS; f++) {
		k = ACCEPT_FORMATS + (int)f - 1;
		if (!(offered & HTTP_OFFER(f)) || q[k] <= 0 ||
		    q[k] < best_q || (best != HTTP_FORMAT_JSON && q[k] == best_q))
			continue;
		best = f;
		best_q = q[k];
	}
	return best;
}

/* Does Accept prefer MessagePack to JSON (the formats of most answers)? */
int
http_wants_msgpack(struct http_request *req)
{
	return http_accept(req, HTTP_OFFER(HTTP_FORMAT_MSGPACK)) ==
	    HTTP_FORMAT_MSGPACK;
}

/* The methods of allowed (HTTP_METHOD_* bits) as an Allow header's value,
 * in out. */
void
http_allow_list(int allowed, char *out, size_t len)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
		if ((allowed & method_names[i].bit) == 0)
			continue;
		n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
		    method_names[i].name);
	}
}

void
http_method_not_allowed(struct http_request *req, int allowed)
{
	char allow[64];

	http_allow_list(allowed, allow, sizeof(allow));
	http_add_header(req, "Allow", allow);
	http_problem(req, 405, "method-not-allowed", "allowed: %s", allow);
}

/* The value of header name in *value (NULL when absent); -1, answered
 * 400, when the request gives it more than once. */
int
http_header_once(struct http_request *req, const char *name,
    const char **value)
{
	if (http_parse_field(req, name, value) > 1) {
		http_problem(req, 400, "bad-request", "the %s header was given "
		    "more than once", name);
		return -1;
	}
	return 0;
}

/* A list header's lines joined by ", " into one value (RFC 9110 section
 * 5.3), or NULL when absent.  *joined is the storage to free when the
 * request gave more than one line, else NULL. */
const char *
http_header_list(struct http_request *req, const char *name,
    char **joined)
{
	struct evbuffer *all = NULL;
	const char *first = NULL, *v;
	int i;

	*joined = NULL;
	for (i = 0; i < req->nfields; i++) {
		if (strcasecmp(req->conn->in + req->fields[i].name.off,
		    name) != 0)
			continue;
		v = req->conn->in + req->fields[i].value.off;
		if (first == NULL) {
			first = v;
			continue;
		}
		if (all == NULL) {
			all = evbuffer_new();
			evbuffer_add(all, first, strlen(first));
		}
		evbuffer_add_printf(all, ", %s", v);
	}
	if (all == NULL)
		return first;
	evbuffer_add(all, "", 1);
	*joined = xstrdup((const char *)evbuffer_pullup(all, -1));
	evbuffer_free(all);
	return *joined;
}

/* If-None-Match: "*" or a list of (possibly weak) tags; weak comparison. */
int
http_etag_matches(struct http_request *req, const char *etag)
{
	const char *inm = http_header(req, "If-None-Match"), *p;
	size_t len = strlen(etag), n;

	if (inm == NULL)
		return 0;
	for (p = inm; *p != '\0';) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		n = strcspn(p, ", \t");
		if (n == len && memcmp(p, etag, len) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* A decimal id in 1..INT64_MAX with no sign, spaces or leading zeros. */
int
http_parse_id(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (*s < '1' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* The request's JSON body, parsed; answers 415, 413 or 400 itself and
 * returns NULL.  *body is NUL-terminated and owned by the caller. */
struct json_doc *
http_json_body(struct http_request *req, char **body)
{
	const char *ct = http_header(req, "Content-Type"), *in;
	struct json_doc *doc;
	size_t len, n;
	char err[128];

	*body = NULL;
	n = ct != NULL ? strcspn(ct, "; \t") : 0;
	/* A PATCH may say what it is: a JSON merge patch (RFC 7396). */
	if (ct == NULL || ((n != 16 || strncasecmp(ct, "application/json",
	    16) != 0) && (req->method != HTTP_METHOD_PATCH || n != 28 ||
	    strncasecmp(ct, "application/merge-patch+json", 28) != 0))) {
		http_problem(req, 415, "unsupported-media-type",
		    req->method == HTTP_METHOD_PATCH ? "the body must be "
		    "application/json or application/merge-patch+json" :
		    "the body must be application/json");
		return NULL;
	}
	in = http_body(req, &len);
	*body = xcalloc(1, len + 1);
	memcpy(*body, in, len);
	if ((doc = json_parse(*body, len, err, sizeof(err))) == NULL) {
		http_problem(req, 400, "invalid-json", "%s", err);
		free(*body);
		*body = NULL;
	}
	return doc;
}

/* 400 for a body json_object() refused, naming the member. */
void
http_field_problem(struct http_request *req, const struct json_error *e)
{
	http_problem(req, 400, e->code, "%s%s%s", e->field,
	    e->field[0] != '\0' ? ": " : "", e->detail);
}

/* The answer to req will come later (after a database round trip);
 * p->req turns NULL if the client goes away meanwhile. */
void
http_pending_start(struct http_pending *p, struct http_request *req)
{
	p->req = req;
	req->pending = p;
}

/* The request to answer now, or NULL if its client has gone. */
struct http_request *
http_pending_finish(struct http_pending *p)
{
	if (p->req != NULL)
		p->req->pending = NULL;
	return p->req;
}

/* The outcome cannot be known (the database connection broke after the
 * statement was sent): drop the client's connection rather than guess. */
void
http_pending_drop(struct http_pending *p)
{
	struct http_request *req = http_pending_finish(p);

	if (req != NULL)
		http_conn_drop(req->conn);
}
