/*
 * route_calendars: GET /calendars (paged by cursor), GET /calendars/{id},
 * and the admin calls POST /calendars, PATCH /calendars/{id} (a JSON merge
 * patch) and DELETE /calendars/{id}.  Calendars live in PostgreSQL: each
 * call is one statement (a PATCH reads first, then writes the revision it
 * read), whose slot changes reach every instance through their
 * notifications.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

#define CALENDARS_PAGE_MAX	1000
#define CALENDARS_PAGE_DEFAULT	100
#define CALENDARS_PATCH_TRIES	3	/* reads of a calendar others change */

struct calendar_call {
	struct http_pending	 pending;
	struct worker_ctx	*w;
	int			 limit;		/* of a page */
	int			 admin;		/* sees feed tokens */
	char			*patch;		/* a PATCH's body */
	int			 tries;
	int64_t			 id;
};

static void
call_free(struct calendar_call *c)
{
	free(c->patch);
	free(c);
}

static struct calendar_call *
call_new(struct http_request *req, struct worker_ctx *w)
{
	struct calendar_call *c = xcalloc(1, sizeof(*c));
	struct principal *who = http_principal(req);

	c->w = w;
	/* Whoever may make admin calls: without tokens, this host. */
	c->admin = who->admin || (!w->conf->auth_jwt &&
	    http_peer_loopback(req));
	return c;
}

static int
call_submit(struct http_request *req, struct calendar_call *c,
    enum db_stmt stmt, const struct db_args *args, db_callback cb)
{
	if (commit_submit(c->w->commit, req, &c->pending, stmt, args, cb,
	    c) == 0)
		return 0;
	call_free(c);
	return -1;
}

/* Row i of a calendar result into cal; -1 when its JSON does not read
 * (which only a hand-edited row can cause). */
static int
calendar_row(const PGresult *res, int i, struct calendar *cal)
{
	struct json_error e;

	calendar_defaults(cal);
	cal->id = strtoll(PQgetvalue(res, i, DB_COL_C_ID), NULL, 10);
	snprintf(cal->name, sizeof(cal->name), "%s",
	    PQgetvalue(res, i, DB_COL_C_NAME));
	snprintf(cal->timezone, sizeof(cal->timezone), "%s",
	    PQgetvalue(res, i, DB_COL_C_TIMEZONE));
	snprintf(cal->feed_token, sizeof(cal->feed_token), "%s",
	    PQgetvalue(res, i, DB_COL_C_FEED_TOKEN));
	cal->created = strtoll(PQgetvalue(res, i, DB_COL_C_CREATED), NULL, 10);
	cal->updated = strtoll(PQgetvalue(res, i, DB_COL_C_UPDATED), NULL, 10);
	cal->revision = strtoll(PQgetvalue(res, i, DB_COL_C_REVISION), NULL,
	    10);
	if (calendar_read_stored(cal, PQgetvalue(res, i, DB_COL_C_SCHEDULE),
	    PQgetvalue(res, i, DB_COL_C_RULES), &e) == -1) {
		log_warnx("%s: calendar %lld: %s: %s", __func__,
		    (long long)cal->id, e.field, e.detail);
		return -1;
	}
	return 0;
}

/* The request to answer with the first row of a calendar statement's
 * result, or NULL when it is answered (503, the outcome's problem), its
 * client left, or another change came first (*what "changed", left to
 * the caller).  *what is the row's outcome. */
static struct http_request *
calendar_answer(struct calendar_call *c, PGresult *res,
    enum db_outcome outcome, const char **what)
{
	struct http_request *req = commit_rows(&c->pending, res, outcome);

	*what = "";
	if (req == NULL)
		return NULL;
	*what = PQntuples(res) > 0 ? PQgetvalue(res, 0, DB_COL_C_OUTCOME) :
	    "ok";
	if (strcmp(*what, "not-found") == 0)
		http_problem(req, 404, "calendar-not-found", "no calendar %lld",
		    (long long)c->id);
	else if (strcmp(*what, "managed") == 0 &&
	    http_method(req) == HTTP_METHOD_DELETE)
		http_problem(req, 409, "calendar-managed-by-config", "calendar "
		    "1 always exists: it stands in where a request names no "
		    "calendar");
	else if (strcmp(*what, "managed") == 0)
		http_problem(req, 409, "calendar-managed-by-config", "calendar "
		    "%lld is the configuration's [schedule]", (long long)c->id);
	else if (strcmp(*what, "has-bookings") == 0)
		http_problem(req, 409, "calendar-has-bookings", "calendar %lld "
		    "has future slots with seats booked, held or waited for",
		    (long long)c->id);
	else if (strcmp(*what, "invalid-cursor") == 0)
		http_problem(req, 400, "invalid-cursor",
		    "this cursor was not issued by this service");
	else if (strcmp(*what, "changed") != 0)
		return req;
	return NULL;		/* answered, or "changed": the caller's */
}

/* Answer one calendar (and, after a PATCH, how many slots it kept). */
static void
calendar_send(struct http_request *req, struct calendar_call *c,
    const PGresult *res, int status)
{
	struct calendar cal;
	struct evbuffer *body;
	struct emit *e;
	char location[48];
	int msgpack = http_wants_msgpack(req), kept = -1;

	if (calendar_row(res, 0, &cal) == -1) {
		http_problem(req, 503, "unavailable", "calendar %lld cannot be "
		    "read", (long long)cal.id);
		return;
	}
	if (http_method(req) == HTTP_METHOD_PATCH)
		kept = atoi(PQgetvalue(res, 0, DB_COL_C_KEPT));
	body = evbuffer_new();
	e = emit_new(body, msgpack);
	calendar_emit(e, &cal, c->admin, kept);
	emit_free(e);
	snprintf(location, sizeof(location), "/calendars/%lld",
	    (long long)cal.id);
	http_send_doc(req, status, body, msgpack, status == 201 ? location :
	    NULL);
	evbuffer_free(body);
}

/* This instance's workers know of a calendar created, changed or deleted
 * here at once; the syncers of every instance hear of it soon after. */
static void
calendar_known(const PGresult *res, int deleted, int64_t id)
{
	if (deleted)
		caldir_put(id, "", 1);
	else if (PQntuples(res) > 0 && !PQgetisnull(res, 0, DB_COL_C_ID))
		caldir_put(strtoll(PQgetvalue(res, 0, DB_COL_C_ID), NULL, 10),
		    PQgetvalue(res, 0, DB_COL_C_TIMEZONE), 0);
}

static void
calendar_done(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct calendar_call *c = arg;
	struct http_request *req;
	const char *what;

	if ((req = calendar_answer(c, res, outcome, &what)) != NULL) {
		if (http_method(req) == HTTP_METHOD_DELETE) {
			calendar_known(res, 1, c->id);
			http_reply(req, 204, NULL);
		} else {
			if (http_method(req) == HTTP_METHOD_POST)
				calendar_known(res, 0, 0);
			calendar_send(req, c, res, http_method(req) ==
			    HTTP_METHOD_POST ? 201 : 200);
		}
	}
	call_free(c);
}

/* The {id} of the path, or 404. */
static int
calendar_id(struct http_request *req, const char *idstr, int64_t *id)
{
	if (http_parse_id(idstr, id) == 0)
		return 0;
	http_problem(req, 404, "calendar-not-found", "no calendar %.32s",
	    idstr);
	return -1;
}

/* A statement on the calendar of the path: GET and DELETE. */
static void
calendar_by_id(struct http_request *req, struct worker_ctx *w,
    const char *idstr, enum db_stmt stmt)
{
	struct calendar_call *c;
	struct db_args args;
	int64_t id;

	if (calendar_id(req, idstr, &id) == -1)
		return;
	c = call_new(req, w);
	c->id = id;
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_CALENDAR, id);
	(void)call_submit(req, c, stmt, &args, calendar_done);
}

/* GET /calendars/{id} */
void
route_calendar_get(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	calendar_by_id(req, w, idstr, DB_CALENDAR_GET);
}

/* DELETE /calendars/{id} */
void
route_calendar_delete(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	calendar_by_id(req, w, idstr, DB_CALENDAR_DELETE);
}

/* The arguments of a calendar's whole state, for create and update. */
static void
calendar_args(struct db_args *args, const struct calendar *cal,
    char **schedule, char **rules)
{
	*schedule = calendar_json(cal, 0);
	*rules = calendar_json(cal, 1);
	db_arg(args, DB_ARG_NAME, cal->name);
	db_arg(args, DB_ARG_TIMEZONE, cal->timezone);
	db_arg(args, DB_ARG_SCHEDULE, *schedule);
	db_arg(args, DB_ARG_RULES, *rules);
}

/* POST /calendars */
void
route_calendars_create(struct http_request *req, struct worker_ctx *w,
    const char *unused)
{
	struct calendar cal;
	struct calendar_call *c;
	struct json_error e;
	struct json_doc *doc;
	struct db_args args;
	char *body, *schedule, *rules;
	int rotate, rc;

	(void)unused;
	if ((doc = http_json_body(req, &body)) == NULL)
		return;
	calendar_defaults(&cal);
	rc = calendar_read(doc, 0, &cal, 0, &rotate, &e);
	json_free(doc);
	free(body);
	if (rc == -1) {
		http_field_problem(req, &e);
		return;
	}
	c = call_new(req, w);
	memset(&args, 0, sizeof(args));
	calendar_args(&args, &cal, &schedule, &rules);
	(void)call_submit(req, c, DB_CALENDAR_CREATE, &args, calendar_done);
	free(schedule);
	free(rules);
}

static void	calendar_patch_read(struct pg_result *, enum db_outcome,
		    void *);

/* Read the calendar a PATCH changes (again, when another change came
 * between its read and its write). */
static int
calendar_patch_send(struct http_request *req, struct calendar_call *c)
{
	struct db_args args;

	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_CALENDAR, c->id);
	return commit_submit(c->w->commit, req, &c->pending, DB_CALENDAR_GET,
	    &args, calendar_patch_read, c);
}

static void
calendar_patched(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct calendar_call *c = arg;
	struct http_request *req;
	const char *what;

	req = calendar_answer(c, res, outcome, &what);
	if (req != NULL)
		calendar_known(res, 0, 0);
	if (req == NULL && strcmp(what, "changed") == 0 &&
	    (req = c->pending.req) != NULL) {
		if (++c->tries < CALENDARS_PATCH_TRIES &&
		    calendar_patch_send(req, c) == 0)
			return;
		http_problem(req, 503, "unavailable", "calendar %lld keeps "
		    "changing; try again", (long long)c->id);
	} else if (req != NULL)
		calendar_send(req, c, res, 200);
	call_free(c);
}

/* The calendar as it is: apply the patch, check the result, write it for
 * the revision read. */
static void
calendar_patch_read(struct pg_result *res, enum db_outcome outcome,
    void *arg)
{
	struct calendar_call *c = arg;
	struct http_request *req;
	struct calendar cal;
	struct json_error e;
	struct json_doc *doc;
	struct db_args args;
	char err[128], *schedule, *rules;
	const char *what;
	int rotate, rc;

	if ((req = calendar_answer(c, res, outcome, &what)) == NULL)
		goto done;
	if (calendar_row(res, 0, &cal) == -1) {
		http_problem(req, 503, "unavailable", "calendar %lld cannot be "
		    "read", (long long)c->id);
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, DB_COL_C_MANAGED), "t") == 0) {
		http_problem(req, 409, "calendar-managed-by-config", "calendar "
		    "%lld is the configuration's [schedule]", (long long)c->id);
		goto done;
	}
	if ((doc = json_parse(c->patch, strlen(c->patch), err,
	    sizeof(err))) == NULL) {
		http_problem(req, 400, "invalid-json", "%s", err);
		goto done;
	}
	rc = calendar_read(doc, 0, &cal, 1, &rotate, &e);
	json_free(doc);
	if (rc == -1) {
		http_field_problem(req, &e);
		goto done;
	}
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_CALENDAR, c->id);
	db_arg_int(&args, DB_ARG_REVISION, cal.revision);
	db_arg(&args, DB_ARG_ROTATE, rotate ? "true" : "false");
	calendar_args(&args, &cal, &schedule, &rules);
	rc = commit_submit(c->w->commit, req, &c->pending, DB_CALENDAR_UPDATE,
	    &args, calendar_patched, c);
	free(schedule);
	free(rules);
	if (rc == 0)
		return;
done:
	call_free(c);
}

/* PATCH /calendars/{id}: application/merge-patch+json (RFC 7396), or
 * application/json. */
void
route_calendar_patch(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	struct calendar_call *c;
	struct json_doc *doc;
	char *body;
	int64_t id;

	if (calendar_id(req, idstr, &id) == -1 ||
	    (doc = http_json_body(req, &body)) == NULL)
		return;
	json_free(doc);
	c = call_new(req, w);
	c->id = id;
	c->patch = body;
	if (calendar_patch_send(req, c) == -1)
		call_free(c);
}

struct page_query {
	int	limit;
	char	cursor[256];
};

/* limit= and cursor= of a page. */
static int
page_param(struct http_request *req, const char *key, const char *value,
    void *arg)
{
	struct page_query *q = arg;

	if (strcmp(key, "limit") == 0)
		return http_query_count(req, key, value, CALENDARS_PAGE_MAX,
		    &q->limit);
	if (strcmp(key, "cursor") != 0)
		return http_query_unknown(req, key);
	snprintf(q->cursor, sizeof(q->cursor), "%s", value);
	return 0;
}

static void
calendar_item(struct emit *e, const struct pg_result *res, int i, void *arg)
{
	struct calendar_call *c = arg;
	struct calendar cal;

	if (calendar_row(res, i, &cal) == -1)
		calendar_defaults(&cal);
	calendar_emit(e, &cal, c->admin, -1);
}

static void
calendars_page(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct calendar_call *c = arg;
	struct http_request *req;
	const char *what;

	if ((req = calendar_answer(c, res, outcome, &what)) != NULL)
		appointment_page(req, "calendars", res, c->limit,
		    DB_COL_C_CURSOR, calendar_item, c);
	call_free(c);
}

/* GET /calendars?limit=&cursor= */
void
route_calendars_list(struct http_request *req, struct worker_ctx *w,
    const char *unused)
{
	struct page_query q = { CALENDARS_PAGE_DEFAULT, "" };
	struct calendar_call *c;
	struct db_args args;

	(void)unused;
	if (http_query_walk(req, page_param, &q) == -1)
		return;
	c = call_new(req, w);
	c->limit = q.limit;
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_CURSOR, q.cursor);
	db_arg_int(&args, DB_ARG_LIMIT, q.limit);
	(void)call_submit(req, c, DB_CALENDAR_PAGE, &args, calendars_page);
}
