/*
 * http: helpers every route shares: methods, content negotiation, problem
 * details (RFC 9457), conditional requests and strict query strings.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "slotd.h"

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
};

static const struct {
	int		 bit;
	const char	*name;
} method_names[] = {
	{ HTTP_GET, "GET" }, { HTTP_HEAD, "HEAD" }, { HTTP_POST, "POST" },
	{ HTTP_PUT, "PUT" }, { HTTP_DELETE, "DELETE" },
	{ HTTP_PATCH, "PATCH" }, { HTTP_OPTIONS, "OPTIONS" },
};

int
http_method(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return HTTP_GET;
	case EVHTTP_REQ_HEAD:
		return HTTP_HEAD;
	case EVHTTP_REQ_POST:
		return HTTP_POST;
	case EVHTTP_REQ_PUT:
		return HTTP_PUT;
	case EVHTTP_REQ_DELETE:
		return HTTP_DELETE;
	case EVHTTP_REQ_PATCH:
		return HTTP_PATCH;
	case EVHTTP_REQ_OPTIONS:
		return HTTP_OPTIONS;
	default:
		return 0;
	}
}

/* What a media range of Accept counts for. */
enum { ACCEPT_JSON, ACCEPT_APPLICATION, ACCEPT_ANY, ACCEPT_MSGPACK,
    ACCEPT_KINDS };

static const struct {
	const char	*range;
	int		 kind;
} accept_ranges[] = {
	{ "application/json", ACCEPT_JSON },
	{ "application/*", ACCEPT_APPLICATION },
	{ "*/*", ACCEPT_ANY },
	{ "application/msgpack", ACCEPT_MSGPACK },
	{ "application/x-msgpack", ACCEPT_MSGPACK },
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

/* Does Accept prefer MessagePack (RFC 9110 section 12.5.1)?  Each kind
 * takes the highest q of its ranges.  JSON, the default, has the q of
 * application/json, else of the application wildcard, else of the full
 * wildcard.  MessagePack wins when it is named with a q above 0 and not
 * below JSON's; otherwise, acceptable or not, the answer is JSON. */
int
http_wants_msgpack(struct evhttp_request *req)
{
	const char *p = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Accept"), *b, *e, *end;
	int q[ACCEPT_KINDS], json, w, k;
	size_t i, n;

	if (p == NULL)
		return 0;
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
	json = q[ACCEPT_JSON] != -1 ? q[ACCEPT_JSON] :
	    q[ACCEPT_APPLICATION] != -1 ? q[ACCEPT_APPLICATION] : q[ACCEPT_ANY];
	return q[ACCEPT_MSGPACK] > 0 && q[ACCEPT_MSGPACK] >= json;
}

/* One request from dispatch to answer: for metrics, the access log and
 * draining.  It ends when the answer is sent, or as 499 when the
 * connection is freed first (libevent notices a vanished client only when
 * the answer is written, or when we drop the connection ourselves). */
struct http_exchange {
	struct timespec			 start;
	int				 route;
	struct evhttp_request		*req;
	struct evhttp_connection	*conn;
	struct http_pending		*pending;
};

static int	http_pending_count;	/* requests not answered yet */
static int	http_max_body = 16 * 1024;
static int	http_max_uri = 8 * 1024;
static int	http_max_header_bytes = 16 * 1024;
static int	http_max_headers = 100;
static int	http_log_access = 1;
static int	http_draining;
static struct http_exchange *http_current;	/* being dispatched */

void
http_set_access_log(int on)
{
	http_log_access = on;
}

/* The [server] limits requests are held to. */
void
http_set_limits(const struct config *c)
{
	http_max_body = c->max_body_bytes;
	http_max_uri = c->max_uri_bytes;
	http_max_header_bytes = c->max_header_bytes;
	http_max_headers = c->max_headers;
}

/* 414 for a long URI, 431 for too many or too large headers (-1). */
int
http_check_limits(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval *h;
	size_t bytes = 0;
	int n = 0;

	if (strlen(evhttp_request_get_uri(req)) > (size_t)http_max_uri) {
		http_problem(req, 414, "uri-too-long", "the URI may have at "
		    "most %d bytes", http_max_uri);
		return -1;
	}
	TAILQ_FOREACH(h, in, next) {
		n++;
		bytes += strlen(h->key) + strlen(h->value) + 4;
	}
	if (n > http_max_headers || bytes > (size_t)http_max_header_bytes) {
		http_problem(req, 431, "headers-too-large", "at most %d header "
		    "fields and %d bytes of them", http_max_headers,
		    http_max_header_bytes);
		return -1;
	}
	return 0;
}

/* From now on every answer closes its connection. */
void
http_set_draining(void)
{
	http_draining = 1;
}

int
http_in_flight(void)
{
	return http_pending_count;
}

static uint64_t
elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)((now.tv_sec - start->tv_sec) * 1000000 +
	    (now.tv_nsec - start->tv_nsec) / 1000);
}

static void
http_exchange_end(struct http_exchange *x, int status)
{
	struct evhttp_request *req = x->req;
	const char *length, *method = "?";
	uint64_t us = elapsed_us(&x->start);
	char *peer = NULL;
	ev_uint16_t port = 0;
	int m = http_method(req);
	size_t i;

	metrics_request(x->route, status, us);
	if (http_log_access) {
		length = evhttp_find_header(
		    evhttp_request_get_output_headers(req), "Content-Length");
		for (i = 0; i < sizeof(method_names) / sizeof(method_names[0]);
		    i++)
			if (m == method_names[i].bit)
				method = method_names[i].name;
		evhttp_connection_get_peer(x->conn, &peer, &port);
		log_info("access %s \"%s %.200s\" %d %s %.3fms",
		    peer != NULL ? peer : "-", method,
		    evhttp_request_get_uri(req), status,
		    length != NULL ? length : "-", (double)us / 1000);
	}
	if (x->pending != NULL) {
		x->pending->req = NULL;
		x->pending->exchange = NULL;
	}
	http_pending_count--;
	free(x);
}

static void
http_exchange_done(struct evhttp_request *req, void *arg)
{
	struct http_exchange *x = arg;

	evhttp_connection_set_closecb(x->conn, NULL, NULL);
	http_exchange_end(x, evhttp_request_get_response_code(req));
}

static void
http_exchange_closed(struct evhttp_connection *conn, void *arg)
{
	struct http_exchange *x = arg;

	(void)conn;
	evhttp_request_set_on_complete_cb(x->req, NULL, NULL);
	http_exchange_end(x, 499);
}

/* Start timing req until it is answered or its client is gone. */
void
http_exchange_begin(struct evhttp_request *req, int route)
{
	struct http_exchange *x = xcalloc(1, sizeof(*x));

	clock_gettime(CLOCK_MONOTONIC, &x->start);
	x->route = route;
	x->req = req;
	x->conn = evhttp_request_get_connection(req);
	http_pending_count++;
	http_current = x;
	evhttp_request_set_on_complete_cb(req, http_exchange_done, x);
	evhttp_connection_set_closecb(x->conn, http_exchange_closed, x);
}

/* Send the answer (every route's answers pass here). */
void
http_reply(struct evhttp_request *req, int status, struct evbuffer *body)
{
	if (http_draining)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
	evhttp_send_reply(req, status, NULL, body);
}

void
http_send(struct evhttp_request *req, int status, const char *content_type,
    struct evbuffer *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (content_type != NULL)
		evhttp_add_header(out, "Content-Type", content_type);
	http_reply(req, status, body);
}

/* Add name to the response's Vary header (one header, comma separated). */
void
http_vary(struct evhttp_request *req, const char *name)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *old = evhttp_find_header(out, "Vary");
	char buf[256];

	if (old == NULL) {
		evhttp_add_header(out, "Vary", name);
		return;
	}
	snprintf(buf, sizeof(buf), "%s, %s", old, name);
	evhttp_remove_header(out, "Vary");
	evhttp_add_header(out, "Vary", buf);
}

/* A document made with emit: its content type, and Location when given. */
void
http_send_doc(struct evhttp_request *req, int status, struct evbuffer *body,
    int msgpack, const char *location)
{
	if (location != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Location", location);
	http_send(req, status, msgpack ? "application/msgpack" :
	    "application/json", body);
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

/* Answer with an application/problem+json body carrying a stable code. */
void
http_problem(struct evhttp_request *req, int status, const char *code,
    const char *fmt, ...)
{
	struct evbuffer *body = evbuffer_new();
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	evbuffer_add_printf(body, "{\"type\":\"/problems/%s\",\"title\":", code);
	emit_json_string(body, problem_title(code), strlen(problem_title(code)));
	evbuffer_add_printf(body, ",\"status\":%d,\"detail\":", status);
	emit_json_string(body, detail, strlen(detail));
	evbuffer_add_printf(body, ",\"code\":\"%s\"}", code);
	if (status == 503)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "1");
	http_send(req, status, "application/problem+json", body);
	evbuffer_free(body);
}

void
http_method_not_allowed(struct evhttp_request *req, int allowed)
{
	char allow[64];
	size_t i, n = 0;

	allow[0] = '\0';
	for (i = 0; i < sizeof(method_names) / sizeof(method_names[0]); i++) {
		if ((allowed & method_names[i].bit) == 0)
			continue;
		n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s",
		    n ? ", " : "", method_names[i].name);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    allow);
	http_problem(req, 405, "method-not-allowed", "allowed: %s", allow);
}

/* The value of header name in *value (NULL when absent); -1, answered
 * 400, when the request gives it more than once. */
int
http_header_once(struct evhttp_request *req, const char *name,
    const char **value)
{
	struct evkeyval *h;

	*value = NULL;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
		if (strcasecmp(h->key, name) != 0)
			continue;
		if (*value != NULL) {
			http_problem(req, 400, "bad-request", "the %s header "
			    "was given more than once", name);
			return -1;
		}
		*value = h->value;
	}
	return 0;
}

/* A list header's lines joined by ", " into one value (RFC 9110 section
 * 5.3), or NULL when absent.  *joined is the storage to free when the
 * request gave more than one line, else NULL. */
const char *
http_header_list(struct evhttp_request *req, const char *name,
    char **joined)
{
	struct evbuffer *all = NULL;
	struct evkeyval *h;
	const char *first = NULL;

	*joined = NULL;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
		if (strcasecmp(h->key, name) != 0)
			continue;
		if (first == NULL) {
			first = h->value;
			continue;
		}
		if (all == NULL) {
			all = evbuffer_new();
			evbuffer_add(all, first, strlen(first));
		}
		evbuffer_add_printf(all, ", %s", h->value);
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
http_etag_matches(struct evhttp_request *req, const char *etag)
{
	const char *inm = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "If-None-Match"), *p;
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

/* rest is what follows a collection's path: 0 for the collection itself,
 * 1 for "/{id}", -1 (answered 404) for anything else. */
int
http_item(struct evhttp_request *req, const char *rest)
{
	if (rest[0] == '\0')
		return 0;
	if (rest[0] == '/' && rest[1] != '\0' && strchr(rest + 1, '/') == NULL)
		return 1;
	http_problem(req, 404, "not-found", "no such resource");
	return -1;
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
http_json_body(struct evhttp_request *req, char **body)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type");
	struct json_doc *doc;
	size_t len = evbuffer_get_length(in), n;
	char err[128];

	*body = NULL;
	n = ct != NULL ? strcspn(ct, "; \t") : 0;
	if (ct == NULL || n != 16 || strncasecmp(ct, "application/json", 16)) {
		http_problem(req, 415, "unsupported-media-type",
		    "the body must be application/json");
		return NULL;
	}
	if (len > (size_t)http_max_body) {
		http_problem(req, 413, "payload-too-large",
		    "the body may have at most %d bytes", http_max_body);
		return NULL;
	}
	*body = xcalloc(1, len + 1);
	evbuffer_copyout(in, *body, len);
	if ((doc = json_parse(*body, len, err, sizeof(err))) == NULL) {
		http_problem(req, 400, "invalid-json", "%s", err);
		free(*body);
		*body = NULL;
	}
	return doc;
}

/* 400 for a body json_object() refused, naming the member. */
void
http_field_problem(struct evhttp_request *req, const struct json_error *e)
{
	http_problem(req, 400, e->code, "%s%s%s", e->field,
	    e->field[0] != '\0' ? ": " : "", e->detail);
}

/* The answer to req will come later (the request must be the one being
 * dispatched); p->req turns NULL if the client goes away meanwhile. */
void
http_pending_start(struct http_pending *p, struct evhttp_request *req)
{
	p->req = req;
	p->exchange = http_current;
	if (p->exchange != NULL)
		p->exchange->pending = p;
}

/* The request to answer now, or NULL if its client has gone. */
struct evhttp_request *
http_pending_finish(struct http_pending *p)
{
	if (p->exchange != NULL)
		p->exchange->pending = NULL;
	return p->req;
}

/* The outcome cannot be known (the database connection broke after the
 * statement was sent): drop the client's connection rather than guess. */
void
http_pending_drop(struct http_pending *p)
{
	struct evhttp_request *req = http_pending_finish(p);

	if (req != NULL)
		evhttp_connection_free(evhttp_request_get_connection(req));
}
