/*
 * http_parse: requests read with llhttp, in place in the connection's
 * input buffer, held to the [server] limits while they arrive.
 *
 * llhttp checks the grammar strictly (two Content-Lengths, Content-Length
 * beside Transfer-Encoding, malformed lengths and chunk sizes, a space
 * before a colon, bare line feeds, chunk data not ended by CRLF: it is
 * built in its strict mode).  Here come what it leaves to servers: one
 * space around the target, HTTP/1.0 and 1.1 only, Host in 1.1, "chunked"
 * as the only transfer coding and only in 1.1, Expect (never answered
 * 100 in 1.0), the limits, and no obs-fold.  Field spans are offsets into
 * the buffer; they are turned into C strings once the header block is
 * complete.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_conn.h"

#define HTTP_FIELDS_FIRST	16

static struct http_conn *
conn_of(llhttp_t *p)
{
	return p->data;
}

/* Refuse the request being read: status, code and detail of the answer. */
static int __attribute__((format(printf, 4, 5)))
refuse(struct http_conn *c, int status, const char *code, const char *fmt,
    ...)
{
	va_list ap;

	c->req.fail_status = status;
	c->req.fail_code = code;
	va_start(ap, fmt);
	vsnprintf(c->req.fail_detail, sizeof(c->req.fail_detail), fmt, ap);
	va_end(ap);
	return HPE_USER;
}

/* Grow span s by the piece [at, at + n) that follows it; a span whose
 * callbacks are not midway starts anew. */
static void
span_add(struct http_conn *c, struct http_span *s, const char *at,
    size_t n)
{
	if (!c->req.span_open) {
		s->off = (uint32_t)(at - c->in);
		s->len = 0;
		c->req.span_open = 1;
	}
	s->len += (uint32_t)n;
}

static int
span_done(llhttp_t *p)
{
	conn_of(p)->req.span_open = 0;
	return 0;
}

static int
on_method(llhttp_t *p, const char *at, size_t n)
{
	span_add(conn_of(p), &conn_of(p)->req.method_name, at, n);
	return 0;
}

static int
on_url(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);

	span_add(c, &c->req.target, at, n);
	if (c->req.target.len > (size_t)c->srv->conf->max_uri_bytes)
		return refuse(c, 414, "uri-too-long", "the URI may have at "
		    "most %d bytes", c->srv->conf->max_uri_bytes);
	return 0;
}

/* Exactly one space between method and target (RFC 9112 section 3). */
static int
on_url_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;

	r->span_open = 0;
	if (r->target.off != r->method_name.off + r->method_name.len + 1)
		return refuse(c, 400, "bad-request", "one space must separate "
		    "the method and the target");
	return 0;
}

/* Exactly one space between target and version: the version's digits
 * come right after "HTTP/". */
static int
on_version(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;

	(void)n;
	if (!r->span_open && (size_t)(at - c->in) != r->target.off +
	    r->target.len + sizeof(" HTTP/") - 1)
		return refuse(c, 400, "bad-request", "one space must separate "
		    "the target and the version");
	r->span_open = 1;
	return 0;
}

/* The header block so far: each field counts its name, value and the
 * four bytes of ": " and CRLF. */
static int
over_limits(struct http_conn *c)
{
	const struct config *cf = c->srv->conf;
	struct http_request *r = &c->req;

	if (r->nfields > cf->max_headers ||
	    r->field_bytes + 4 * (size_t)r->nfields >
	    (size_t)cf->max_header_bytes)
		return refuse(c, 431, "headers-too-large", "at most %d header "
		    "fields and %d bytes of them", cf->max_headers,
		    cf->max_header_bytes);
	return 0;
}

static int
on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;
	struct http_field *f;

	if (!r->span_open) {
		if (r->nfields == r->maxfields) {
			if (r->nfields >= c->srv->conf->max_headers) {
				r->nfields++;
				return over_limits(c);
			}
			r->maxfields = r->maxfields ? r->maxfields * 2 :
			    HTTP_FIELDS_FIRST;
			r->fields = xreallocarray(r->fields,
			    (size_t)r->maxfields, sizeof(*r->fields));
		}
		f = &r->fields[r->nfields++];
		memset(f, 0, sizeof(*f));
	}
	f = &r->fields[r->nfields - 1];
	span_add(c, &f->name, at, n);
	r->field_bytes += n;
	return over_limits(c);
}

static int
on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;

	span_add(c, &r->fields[r->nfields - 1].value, at, n);
	r->field_bytes += n;
	return over_limits(c);
}

/* A field's value as llhttp gives it ends before the CRLF; an obs-fold
 * (a line that starts with a space) leaves a line break between the name
 * and the value's end: inside the value, or before it when the first line
 * was empty. */
static int
on_header_value_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	struct http_field *f = &c->req.fields[c->req.nfields - 1];
	const char *from = c->in + f->name.off + f->name.len;
	size_t n;

	c->req.span_open = 0;
	if (f->value.len == 0)
		f->value.off = f->name.off + f->name.len;
	n = (size_t)(c->in + f->value.off + f->value.len - from);
	if (memchr(from, '\n', n) != NULL || memchr(from, '\r', n) != NULL)
		return refuse(c, 400, "bad-request", "a header field may not "
		    "be folded over lines (obs-fold)");
	return 0;
}

/* A target in absolute form (RFC 9112 section 3.2.2: "http://host/path?q",
 * which servers must accept) is served by its path and query: the span
 * moves to the path.  With no path ("http://host?q"), the authority's
 * last byte becomes the "/" that stands in for it. */
static void
absolute_form(struct http_conn *c)
{
	struct http_span *t = &c->req.target;
	char *at = c->in + t->off, *path;
	size_t scheme;

	scheme = strspn(at, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
	if (scheme == 0 || strncmp(at + scheme, "://", 3) != 0)
		return;
	path = at + scheme + 3;
	path += strcspn(path, "/?#");
	if (*path != '/') {
		if (path == at + scheme + 3)
			return;		/* no authority: left to 404 */
		*--path = '/';
	}
	t->len -= (uint32_t)(path - at);
	t->off = (uint32_t)(path - c->in);
}

/* Turn the spans into C strings: the byte after each (a space, a colon,
 * a line end) is overwritten, which llhttp has read by now. */
static void
terminate(struct http_conn *c)
{
	struct http_request *r = &c->req;
	struct http_field *f;
	char *q;
	int i;

	c->in[r->target.off + r->target.len] = '\0';
	absolute_form(c);
	r->terminated = 1;
	r->query = 0;
	if ((q = strchr(c->in + r->target.off, '?')) != NULL) {
		*q = '\0';
		r->query = (uint32_t)(q + 1 - c->in);
	}
	for (i = 0; i < r->nfields; i++) {
		f = &r->fields[i];
		c->in[f->name.off + f->name.len] = '\0';
		while (f->value.len > 0 && (c->in[f->value.off +
		    f->value.len - 1] == ' ' || c->in[f->value.off +
		    f->value.len - 1] == '\t'))
			f->value.len--;
		c->in[f->value.off + f->value.len] = '\0';
	}
}

/* How many header fields of r have this name (once the header block is
 * complete); *value is the first one's, NULL for none. */
int
http_parse_field(struct http_request *r, const char *name,
    const char **value)
{
	const char *in = r->conn->in;
	int i, n = 0;

	*value = NULL;
	for (i = 0; i < r->nfields; i++) {
		if (strcasecmp(in + r->fields[i].name.off, name) != 0)
			continue;
		if (n++ == 0)
			*value = in + r->fields[i].value.off;
	}
	return n;
}

static int
method_bit(uint8_t m)
{
	switch (m) {
	case HTTP_GET:
		return HTTP_METHOD_GET;
	case HTTP_HEAD:
		return HTTP_METHOD_HEAD;
	case HTTP_POST:
		return HTTP_METHOD_POST;
	case HTTP_PUT:
		return HTTP_METHOD_PUT;
	case HTTP_DELETE:
		return HTTP_METHOD_DELETE;
	case HTTP_PATCH:
		return HTTP_METHOD_PATCH;
	case HTTP_OPTIONS:
		return HTTP_METHOD_OPTIONS;
	default:
		return 0;
	}
}

static int
on_headers_complete(llhttp_t *p)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = &c->req;
	const char *host, *te, *expect;
	int ntes;

	terminate(c);
	r->method = method_bit(p->method);
	r->minor = p->http_minor;
	r->head = r->method == HTTP_METHOD_HEAD;
	r->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
	if (p->http_major != 1 || p->http_minor > 1)
		return refuse(c, 505, "bad-request", "HTTP/1.0 and HTTP/1.1 "
		    "are served");
	if (http_parse_field(r, "Host", &host) > 1 ||
	    (p->http_minor == 1 && host == NULL))
		return refuse(c, 400, "bad-request", "an HTTP/1.1 request "
		    "needs one Host header");
	ntes = http_parse_field(r, "Transfer-Encoding", &te);
	if (ntes > 1 || (te != NULL && strcasecmp(te, "chunked") != 0))
		return refuse(c, 400, "bad-request", "chunked is the only "
		    "transfer coding taken");
	if (te != NULL && p->http_minor == 0)
		return refuse(c, 400, "bad-request", "an HTTP/1.0 request "
		    "cannot be chunked");
	if (p->flags & F_CONTENT_LENGTH && p->content_length >
	    (uint64_t)c->srv->conf->max_body_bytes)
		return refuse(c, 413, "payload-too-large", "the body may have "
		    "at most %d bytes", c->srv->conf->max_body_bytes);
	if (http_parse_field(r, "Expect", &expect) > 0) {
		if (strcasecmp(expect, "100-continue") != 0)
			return refuse(c, 417, "bad-request", "only Expect: "
			    "100-continue is understood");
		r->continue_wanted = p->http_minor >= 1;
	}
	/* No body on the way: nothing to continue. */
	if (!(p->flags & (F_CHUNKED | F_CONTENT_LENGTH)) ||
	    (!(p->flags & F_CHUNKED) && p->content_length == 0))
		r->continue_wanted = 0;
	return 0;
}

/* Body pieces are moved together (chunk sizes between them go), so that
 * the body is one span. */
static int
on_body(llhttp_t *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_span *b = &c->req.body;

	if (b->len == 0 && b->off == 0)
		b->off = (uint32_t)(at - c->in);
	if (b->len + n > (size_t)c->srv->conf->max_body_bytes)
		return refuse(c, 413, "payload-too-large", "the body may have "
		    "at most %d bytes", c->srv->conf->max_body_bytes);
	memmove(c->in + b->off + b->len, at, n);
	b->len += (uint32_t)n;
	return 0;
}

static int
on_message_complete(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED;
}

static llhttp_settings_t http_settings;

void
http_parse_init(struct http_conn *c)
{
	if (http_settings.on_message_complete == NULL) {
		llhttp_settings_init(&http_settings);
		http_settings.on_method = on_method;
		http_settings.on_method_complete = span_done;
		http_settings.on_url = on_url;
		http_settings.on_url_complete = on_url_complete;
		http_settings.on_version = on_version;
		http_settings.on_version_complete = span_done;
		http_settings.on_header_field = on_header_field;
		http_settings.on_header_field_complete = span_done;
		http_settings.on_header_value = on_header_value;
		http_settings.on_header_value_complete =
		    on_header_value_complete;
		http_settings.on_headers_complete = on_headers_complete;
		http_settings.on_body = on_body;
		http_settings.on_message_complete = on_message_complete;
	}
	llhttp_init(&c->parser, HTTP_REQUEST, &http_settings);
	c->parser.data = c;
}

/* Forget the request (its fields' room is kept for the next). */
void
http_parse_reset(struct http_conn *c)
{
	struct http_request *r = &c->req;
	struct http_field *fields = r->fields;
	char *extra = r->extra;
	int maxfields = r->maxfields;
	size_t extra_cap = r->extra_cap;

	memset(r, 0, sizeof(*r));
	r->conn = c;
	r->fields = fields;
	r->maxfields = maxfields;
	r->extra = extra;
	r->extra_cap = extra_cap;
	if (llhttp_get_errno(&c->parser) == HPE_PAUSED)
		llhttp_resume(&c->parser);
}

/* "TOKEN SP target SP" at the start of the input: the request line of a
 * method llhttp does not know, so that the route can answer 405 with
 * Allow (or 404).  0 when it is one. */
static int
unknown_method(struct http_conn *c)
{
	struct http_request *r = &c->req;
	const char *tchar = "!#$%&'*+-.^_`|~";
	size_t i = 0, t;

	while (i < c->in_len && (((c->in[i] | 32) >= 'a' &&
	    (c->in[i] | 32) <= 'z') || (c->in[i] >= '0' && c->in[i] <= '9') ||
	    strchr(tchar, c->in[i]) != NULL))
		i++;
	if (i == 0 || i >= c->in_len || c->in[i] != ' ')
		return -1;
	t = ++i;
	while (i < c->in_len && c->in[i] > ' ' && c->in[i] < 127)
		i++;
	if (i == t || i >= c->in_len || c->in[i] != ' ' ||
	    i - t > (size_t)c->srv->conf->max_uri_bytes)
		return -1;
	r->method_name.off = 0;
	r->method_name.len = (uint32_t)(t - 1);
	r->target.off = (uint32_t)t;
	r->target.len = (uint32_t)(i - t);
	r->nfields = 0;
	terminate(c);
	r->method = 0;
	r->keep_alive = 0;
	return 0;
}

/*
 * Give llhttp what arrived since the last call.  1: a request is complete
 * and may be dispatched (c->parsed is where it ends); 0: more is needed;
 * -1: refused (the answer is in c->req's fail_ fields).
 */
int
http_parse_feed(struct http_conn *c)
{
	struct http_request *r = &c->req;
	llhttp_errno_t e;
	const char *end, *reason;

	if (c->parsed == c->in_len)
		return 0;
	e = llhttp_execute(&c->parser, c->in + c->parsed,
	    c->in_len - c->parsed);
	switch (e) {
	case HPE_OK:
		c->parsed = c->in_len;
		return 0;
	case HPE_PAUSED:
	case HPE_PAUSED_UPGRADE:
		end = llhttp_get_error_pos(&c->parser);
		c->parsed = end != NULL ? (size_t)(end - c->in) : c->in_len;
		if (e == HPE_PAUSED_UPGRADE)
			r->keep_alive = 0;
		return 1;
	case HPE_INVALID_METHOD:
		if (unknown_method(c) == 0) {
			c->parsed = c->in_len;
			return 1;
		}
		break;
	case HPE_INVALID_VERSION:
		refuse(c, 505, "bad-request", "HTTP/1.0 and HTTP/1.1 are "
		    "served");
		break;
	default:
		break;
	}
	reason = llhttp_get_error_reason(&c->parser);
	if (r->fail_status == 0)
		refuse(c, 400, "bad-request", "malformed request: %s",
		    reason != NULL ? reason : llhttp_errno_name(e));
	r->keep_alive = 0;
	return -1;
}
