/*
 * route_webhooks: the admin calls that manage webhooks (API.md, "Events
 * and webhooks"): POST /webhooks, GET /webhooks, GET, PATCH and DELETE
 * /webhooks/{id}, and GET /webhooks/{id}/deliveries, the latest attempts.
 * Each is one statement; the courier (courier.c) delivers.
 */
#include <sys/random.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

#define WEBHOOK_URL_MAX		2048
#define WEBHOOK_DESCRIPTION_MAX	500
#define WEBHOOK_ATTEMPTS_MAX	1000
#define WEBHOOK_ATTEMPTS_DEFAULT 50

static const char *const event_types[] = {
	"appointment.booked", "appointment.cancelled",
	"appointment.rescheduled", "waitlist.offered", "waitlist.expired"
};
#define NEVENT_TYPES	(sizeof(event_types) / sizeof(event_types[0]))

/* What a POST or PATCH gives; NULL or -1: not given. */
struct webhook_input {
	char		*url;
	char		*events;	/* a PostgreSQL text[] literal */
	char		*description;
	int		 description_given;
	int		 enabled;
};

struct webhook_call {
	struct http_pending	 pending;
	struct worker_ctx	*w;
	int64_t			 id;
	int			 limit;		/* of the attempts shown */
};

static void
input_free(struct webhook_input *in)
{
	free(in->url);
	free(in->events);
	free(in->description);
}

/* An http:// or https:// URL with a host, printable ASCII, no fragment. */
static int
url_ok(const char *url)
{
	const char *p, *host;

	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return 0;
	if (*host == '\0' || strchr("/?#:@", *host) != NULL)
		return 0;
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
		    *p == '#')
			return 0;
	return 1;
}

/* The event types at token tok into in->events; -1 with e set. */
static int
events_read(const struct json_doc *d, int tok, struct webhook_input *in,
    struct json_error *e)
{
	int items[NEVENT_TYPES + 1], n, i, j, seen = 0;
	struct evbuffer *b;
	char field[24], *s;

	n = json_array_items(d, tok, items, NEVENT_TYPES + 1);
	if (n < 1 || n > (int)NEVENT_TYPES)
		return json_fail(e, "invalid-field", "events", "must be an "
		    "array of 1 to 5 event types");
	b = evbuffer_new();
	for (i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "events[%d]", i);
		s = json_string(d, items[i]);
		for (j = 0; s != NULL && j < (int)NEVENT_TYPES; j++)
			if (strcmp(s, event_types[j]) == 0)
				break;
		if (s == NULL || j == (int)NEVENT_TYPES || seen & (1 << j)) {
			json_fail(e, "invalid-field", field, s == NULL ?
			    "must be a string" : j == (int)NEVENT_TYPES ?
			    "is no event type: appointment.booked, "
			    "appointment.cancelled, appointment.rescheduled, "
			    "waitlist.offered or waitlist.expired" :
			    "is given twice");
			free(s);
			evbuffer_free(b);
			return -1;
		}
		seen |= 1 << j;
		db_array_append_text(b, s);
		free(s);
	}
	in->events = xstrdup(db_array_finish(b));
	evbuffer_free(b);
	return 0;
}

/* A webhook of a POST (patch 0: url and events required) or the members
 * of a PATCH; -1 with e naming the member that is wrong. */
static int
webhook_read(const struct json_doc *d, int patch, struct webhook_input *in,
    struct json_error *e)
{
	int events = -1, enabled = -1, description = -1;
	struct json_field f[] = {
		{ "url", JSON_FIELD_STRING, 1, WEBHOOK_URL_MAX, &in->url, NULL,
		    0, NULL, url_ok, "must be an http:// or https:// URL" },
		{ "events", JSON_FIELD_ANY, 0, 0, &events, NULL, 0, NULL, NULL,
		    NULL },
		{ "description", JSON_FIELD_ANY, 0, 0, &description, NULL, 0,
		    NULL, NULL, NULL },
		{ "enabled", JSON_FIELD_ANY, 0, 0, &enabled, NULL, 0, NULL,
		    NULL, NULL },
	};

	memset(in, 0, sizeof(*in));
	in->enabled = -1;
	if (json_object(d, 0, f, patch ? 4 : 3, e) == -1)
		return -1;
	if (!patch && (in->url == NULL || events == -1))
		return json_fail(e, "invalid-field", in->url == NULL ? "url" :
		    "events", "required");
	if (events != -1 && events_read(d, events, in, e) == -1)
		return -1;
	if (enabled != -1 && json_bool(d, enabled, &in->enabled) == -1)
		return json_fail(e, "invalid-field", "enabled",
		    "must be true or false");
	if (description == -1 || json_is_null(d, description)) {
		in->description_given = description != -1;
		return 0;
	}
	in->description_given = 1;
	in->description = json_string(d, description);
	if (in->description == NULL || utf8_length(in->description) >
	    WEBHOOK_DESCRIPTION_MAX)
		return json_fail(e, "invalid-field", "description", "must be "
		    "a string of at most 500 characters");
	return 0;
}

/* whsec_ and 32 random bytes from the OS, base64. */
static int
webhook_secret(char *buf, size_t len)
{
	unsigned char key[32];

	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		return -1;
	return webhook_base64(key, sizeof(key), "whsec_", buf, len);
}

static void
emit_utc(struct emit *e, const PGresult *res, int i, int col)
{
	char buf[32];

	if (PQgetisnull(res, i, col)) {
		emit_null(e);
		return;
	}
	emit_strn(e, buf, tz_format_utc(strtoll(PQgetvalue(res, i, col), NULL,
	    10), buf, sizeof(buf)));
}

static void
webhook_emit(struct emit *e, const PGresult *res, int i)
{
	const char *p;
	size_t n = 1, len;
	int secret = !PQgetisnull(res, i, DB_COL_W_SECRET);

	emit_map(e, 7 + secret);
	emit_key(e, "id");
	emit_int(e, strtoll(PQgetvalue(res, i, DB_COL_W_ID), NULL, 10));
	emit_key(e, "url");
	emit_str(e, PQgetvalue(res, i, DB_COL_W_URL));
	emit_key(e, "events");
	p = PQgetvalue(res, i, DB_COL_W_EVENTS);	/* {a.b,c.d}: no quotes */
	for (len = 0; p[len] != '\0'; len++)
		n += p[len] == ',';
	emit_array(e, n);
	for (p++; *p != '\0' && *p != '}'; p += len + (p[len] == ',')) {
		len = strcspn(p, ",}");
		emit_strn(e, p, len);
	}
	emit_end(e);
	emit_key(e, "description");
	emit_str_or_null(e, PQgetisnull(res, i, DB_COL_W_DESCRIPTION) ? NULL :
	    PQgetvalue(res, i, DB_COL_W_DESCRIPTION));
	emit_key(e, "enabled");
	emit_bool(e, strcmp(PQgetvalue(res, i, DB_COL_W_ENABLED), "t") == 0);
	emit_key(e, "createdAt");
	emit_utc(e, res, i, DB_COL_W_CREATED);
	emit_key(e, "updatedAt");
	emit_utc(e, res, i, DB_COL_W_UPDATED);
	if (secret) {
		emit_key(e, "secret");
		emit_str(e, PQgetvalue(res, i, DB_COL_W_SECRET));
	}
	emit_end(e);
}

static void
attempt_emit(struct emit *e, const PGresult *res, int i)
{
	emit_map(e, 6);
	emit_key(e, "eventId");
	emit_str(e, PQgetvalue(res, i, DB_COL_T_EVENT));
	emit_key(e, "attempt");
	emit_int(e, strtoll(PQgetvalue(res, i, DB_COL_T_ATTEMPT), NULL, 10));
	emit_key(e, "status");
	if (PQgetisnull(res, i, DB_COL_T_STATUS))
		emit_null(e);
	else
		emit_int(e, strtoll(PQgetvalue(res, i, DB_COL_T_STATUS), NULL,
		    10));
	emit_key(e, "error");
	emit_str_or_null(e, PQgetisnull(res, i, DB_COL_T_ERROR) ? NULL :
	    PQgetvalue(res, i, DB_COL_T_ERROR));
	emit_key(e, "at");
	emit_utc(e, res, i, DB_COL_T_AT);
	emit_key(e, "nextAttemptAt");
	emit_utc(e, res, i, DB_COL_T_NEXT);
	emit_end(e);
}

/* Answer a webhook statement: 503 when it failed, 404 with no row, else
 * what the method asks for. */
static void
webhook_done(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct webhook_call *c = arg;
	struct http_request *req = commit_rows(&c->pending, res, outcome);
	struct evbuffer *body;
	struct emit *e;
	char location[48];
	int i, n, msgpack, method;

	if (req == NULL)
		goto done;
	method = http_method(req);
	n = PQntuples(res);
	if (n == 0 && c->id != 0) {
		http_problem(req, 404, "webhook-not-found", "no webhook %lld",
		    (long long)c->id);
		goto done;
	}
	if (method == HTTP_METHOD_DELETE) {
		http_reply(req, 204, NULL);
		goto done;
	}
	msgpack = http_wants_msgpack(req);
	body = evbuffer_new();
	e = emit_new(body, msgpack);
	if (c->limit > 0) {
		n -= PQgetisnull(res, 0, DB_COL_T_EVENT);
		emit_map(e, 1);
		emit_key(e, "deliveries");
		emit_array(e, (size_t)n);
		for (i = 0; i < n; i++)
			attempt_emit(e, res, i);
		emit_end(e);
		emit_end(e);
	} else if (c->id == 0 && method != HTTP_METHOD_POST) {
		emit_map(e, 1);
		emit_key(e, "webhooks");
		emit_array(e, (size_t)n);
		for (i = 0; i < n; i++)
			webhook_emit(e, res, i);
		emit_end(e);
		emit_end(e);
	} else
		webhook_emit(e, res, 0);
	emit_free(e);
	snprintf(location, sizeof(location), "/webhooks/%s",
	    n > 0 ? PQgetvalue(res, 0, DB_COL_W_ID) : "");
	http_send_doc(req, method == HTTP_METHOD_POST ? 201 : 200, body,
	    msgpack, method == HTTP_METHOD_POST ? location : NULL);
	evbuffer_free(body);
done:
	free(c);
}

static void
webhook_submit(struct http_request *req, struct worker_ctx *w, int64_t id,
    int limit, enum db_stmt stmt, const struct db_args *args)
{
	struct webhook_call *c = xcalloc(1, sizeof(*c));

	c->w = w;
	c->id = id;
	c->limit = limit;
	if (commit_submit(w->commit, req, &c->pending, stmt, args,
	    webhook_done, c) == -1)
		free(c);
}

/* The {id} of the path, or 404. */
static int
webhook_id(struct http_request *req, const char *idstr, int64_t *id)
{
	if (http_parse_id(idstr, id) == 0)
		return 0;
	http_problem(req, 404, "webhook-not-found", "no webhook %.32s", idstr);
	return -1;
}

/* The body of a POST or PATCH, read; -1 once answered. */
static int
webhook_body(struct http_request *req, int patch, struct webhook_input *in)
{
	struct json_error e;
	struct json_doc *doc;
	char *body;
	int rc;

	if ((doc = http_json_body(req, &body)) == NULL)
		return -1;
	if (json_root_type(doc) != JSON_OBJECT) {
		json_free(doc);
		free(body);
		http_problem(req, 400, "invalid-json", "the body must be an "
		    "object");
		return -1;
	}
	rc = webhook_read(doc, patch, in, &e);
	json_free(doc);
	free(body);
	if (rc == -1) {
		input_free(in);
		http_field_problem(req, &e);
	}
	return rc;
}

/* POST /webhooks */
void
route_webhooks_create(struct http_request *req, struct worker_ctx *w,
    const char *unused)
{
	struct webhook_input in;
	struct db_args args;
	char secret[128];

	(void)unused;
	if (webhook_body(req, 0, &in) == -1)
		return;
	if (webhook_secret(secret, sizeof(secret)) == -1) {
		input_free(&in);
		http_problem(req, 503, "unavailable", "no random bytes for the "
		    "secret now");
		return;
	}
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_URL, in.url);
	db_arg(&args, DB_ARG_EVENTS, in.events);
	db_arg(&args, DB_ARG_DESCRIPTION, in.description);
	db_arg(&args, DB_ARG_SECRET, secret);
	webhook_submit(req, w, 0, 0, DB_WEBHOOK_CREATE, &args);
	input_free(&in);
}

/* GET /webhooks */
void
route_webhooks_list(struct http_request *req, struct worker_ctx *w,
    const char *unused)
{
	struct db_args args;

	(void)unused;
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_WEBHOOK, NULL);
	webhook_submit(req, w, 0, 0, DB_WEBHOOK_GET, &args);
}

/* GET and DELETE /webhooks/{id} */
void
route_webhook(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	struct db_args args;
	int64_t id;

	if (webhook_id(req, idstr, &id) == -1)
		return;
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_WEBHOOK, id);
	webhook_submit(req, w, id, 0, http_method(req) == HTTP_METHOD_DELETE ?
	    DB_WEBHOOK_DELETE : DB_WEBHOOK_GET, &args);
}

/* PATCH /webhooks/{id}: url, events, description, enabled. */
void
route_webhook_patch(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	struct webhook_input in;
	struct db_args args;
	int64_t id;

	if (webhook_id(req, idstr, &id) == -1 ||
	    webhook_body(req, 1, &in) == -1)
		return;
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_WEBHOOK, id);
	db_arg(&args, DB_ARG_URL, in.url);
	db_arg(&args, DB_ARG_EVENTS, in.events);
	db_arg(&args, DB_ARG_SET_DESCRIPTION, in.description_given ? "true" :
	    "false");
	db_arg(&args, DB_ARG_DESCRIPTION, in.description);
	db_arg(&args, DB_ARG_ENABLED, in.enabled == -1 ? NULL : in.enabled ?
	    "true" : "false");
	webhook_submit(req, w, id, 0, DB_WEBHOOK_UPDATE, &args);
	input_free(&in);
}

static int
attempts_param(struct http_request *req, const char *key, const char *value,
    void *limit)
{
	if (strcmp(key, "limit") != 0)
		return http_query_unknown(req, key);
	return http_query_count(req, key, value, WEBHOOK_ATTEMPTS_MAX, limit);
}

/* GET /webhooks/{id}/deliveries?limit= */
void
route_webhook_deliveries(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	struct db_args args;
	int64_t id;
	int limit = WEBHOOK_ATTEMPTS_DEFAULT;

	if (webhook_id(req, idstr, &id) == -1 ||
	    http_query_walk(req, attempts_param, &limit) == -1)
		return;
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_WEBHOOK, id);
	db_arg_int(&args, DB_ARG_LIMIT, limit);
	webhook_submit(req, w, id, limit, DB_WEBHOOK_ATTEMPTS, &args);
}
