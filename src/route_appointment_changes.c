/*
 * route_appointment_changes: GET /appointments (a calendar's day for
 * admins, "my bookings" for a token's subject, paged by cursor), and the
 * changes of one appointment: POST /appointments/{id}/reschedule (one
 * transaction: the new seats taken and the old ones freed together, or
 * nothing changes) and POST /appointments/{id}/cancel (with a reason).
 * A change answers with the appointment as it is afterwards, read in a
 * second statement.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

#define APPOINTMENTS_PAGE_MAX		1000
#define APPOINTMENTS_PAGE_DEFAULT	100
#define APPOINTMENTS_MAX_DAYS		366

struct change {
	struct http_pending	 pending;
	struct worker_ctx	*w;
	char			 id[ROUTE_ID_MAX];
	char			 owner[256];
	int			 admin;
	int			 limit;		/* of a page */
	int64_t			 slot_id;	/* of a move */
	int64_t			 count;
	int			 moving;
};

/* The caller's owner and admin flag.  (Without tokens, every appointment
 * has the same empty owner: this host sees them all, as the owner, under
 * the calendars' rules.) */
static struct change *
change_new(struct http_request *req, struct worker_ctx *w)
{
	struct change *c = xcalloc(1, sizeof(*c));
	struct principal *who = http_principal(req);

	c->w = w;
	snprintf(c->owner, sizeof(c->owner), "%s", who->sub);
	c->admin = who->admin;
	return c;
}

static void
change_found(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct change *c = arg;
	struct http_request *req = http_pending_finish(&c->pending);

	if (req != NULL)
		appointment_answer(req, c->w->conf, res, outcome);
	free(c);
}

/* After a change: read the appointment to answer with it. */
static void
change_read(struct http_request *req, struct change *c)
{
	struct db_args args;

	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_APPOINTMENT, c->id);
	db_arg(&args, DB_ARG_OWNER, c->owner);
	db_arg(&args, DB_ARG_ADMIN, c->admin ? "true" : "false");
	if (commit_submit(c->w->commit, req, &c->pending, DB_GET_APPOINTMENT,
	    &args, change_found, c) == -1)
		free(c);
}

/* The outcome of a move or a cancel: read the appointment anew, or
 * answer the refusal. */
static void
change_done(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct change *c = arg;
	struct http_request *req;
	const char *failure;
	struct db_row r;

	req = commit_answer(c->w->commit, &c->pending, res, outcome,
	    SLOT_APPLY_UPDATE_ONLY, &r, &failure);
	if (req == NULL)
		goto done;
	if (strcmp(r.outcome, "moved") == 0 ||
	    strcmp(r.outcome, "replayed") == 0 ||
	    strcmp(r.outcome, "cancelled") == 0 ||
	    (strcmp(r.outcome, "already-cancelled") == 0 && !c->moving)) {
		change_read(req, c);
		return;
	}
	if (strcmp(r.outcome, "not-found") == 0)
		http_problem(req, 404, "not-found", "no such appointment");
	else if (strcmp(r.outcome, "already-cancelled") == 0)
		http_problem(req, 404, "not-found", "appointment %s is "
		    "cancelled: there is nothing to move", c->id);
	else if (strcmp(r.outcome, "key-reused") == 0)
		http_problem(req, 422, "idempotency-key-reused", "this "
		    "Idempotency-Key was used with a different request");
	else if (!rules_refusal(req, &r, c->slot_id, c->count))
		http_problem(req, 503, "unavailable", "unexpected outcome");
done:
	free(c);
}

/* The {id} of the path, or 404. */
static int
appointment_id(struct http_request *req, const char *id)
{
	int64_t n;

	if (http_parse_id(id, &n) == 0)
		return 0;
	http_problem(req, 404, "not-found", "no such appointment");
	return -1;
}

/* POST /appointments/{id}/reschedule {"slotId":N,"slots":k} */
void
route_appointment_reschedule(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	int64_t slot = 0, count = 0;
	int has_slot = 0, has_count = 0, rc;
	struct json_field fields[] = {
		{ "slotId", JSON_FIELD_INT, 1, INT64_MAX, &slot, &has_slot, 0,
		    NULL, NULL, NULL },
		{ "slots", JSON_FIELD_INT, 1, DB_MAX_RUN, &count, &has_count, 0,
		    "too-many-slots", NULL, NULL },
	};
	struct change *c;
	struct json_error e;
	struct json_doc *doc;
	struct db_args args;
	const char *key;
	char *body, request[96];

	if (appointment_id(req, id) == -1 ||
	    rules_idempotency_key(req, &key) == -1 ||
	    (doc = http_json_body(req, &body)) == NULL)
		return;
	rc = json_object(doc, 0, fields, 2, &e);
	json_free(doc);
	free(body);
	if (rc == -1) {
		http_field_problem(req, &e);
		return;
	}
	if (!has_slot) {
		http_problem(req, 400, "invalid-field", "slotId: required");
		return;
	}
	c = change_new(req, w);
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->moving = 1;
	c->slot_id = slot;
	c->count = has_count ? count : 1;
	snprintf(request, sizeof(request), "[%lld,%lld]", (long long)slot,
	    has_count ? (long long)count : 0LL);
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_APPOINTMENT, id);
	db_arg(&args, DB_ARG_OWNER, c->owner);
	db_arg(&args, DB_ARG_ADMIN, c->admin ? "true" : "false");
	db_arg_int(&args, DB_ARG_SLOT, slot);
	if (has_count)
		db_arg_int(&args, DB_ARG_COUNT, count);
	else
		db_arg(&args, DB_ARG_COUNT, NULL);	/* as many as now */
	db_arg(&args, DB_ARG_KEY, key);
	db_arg(&args, DB_ARG_REQUEST, request);
	if (commit_submit(w->commit, req, &c->pending, DB_MOVE, &args,
	    change_done, c) == -1)
		free(c);
}

/* POST /appointments/{id}/cancel {"reason":"..."}, the body optional. */
void
route_appointment_cancel(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	char *reason = NULL, *body;
	struct json_field fields[] = {
		{ "reason", JSON_FIELD_STRING, 0, 500, &reason, NULL, 1, NULL,
		    NULL, NULL },
	};
	struct change *c;
	struct json_error e;
	struct json_doc *doc;
	struct db_args args;
	size_t len;
	int rc;

	if (appointment_id(req, id) == -1)
		return;
	(void)http_body(req, &len);
	if (len > 0) {
		if ((doc = http_json_body(req, &body)) == NULL)
			return;
		rc = json_object(doc, 0, fields, 1, &e);
		json_free(doc);
		free(body);
		if (rc == -1) {
			http_field_problem(req, &e);
			return;
		}
	}
	c = change_new(req, w);
	snprintf(c->id, sizeof(c->id), "%s", id);
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_APPOINTMENT, id);
	db_arg(&args, DB_ARG_OWNER, c->owner);
	db_arg(&args, DB_ARG_ADMIN, c->admin ? "true" : "false");
	db_arg(&args, DB_ARG_REASON, reason);
	if (commit_submit(w->commit, req, &c->pending, DB_CANCEL, &args,
	    change_done, c) == -1)
		free(c);
	free(reason);
}

/* ---- GET /appointments ---- */

struct page_query {
	char	calendar[24];
	int64_t	from;
	int64_t	to;
	int64_t	day;
	int	days;
	int	dated;
	char	status[16];
	char	cursor[256];
	int	limit;
};

/* One parameter of the listing; -1 once answered. */
static int
page_param(struct http_request *req, const char *key, const char *value,
    void *arg)
{
	struct page_query *q = arg;
	int64_t v;

	if (strcmp(key, "limit") == 0)
		return http_query_count(req, key, value,
		    APPOINTMENTS_PAGE_MAX, &q->limit);
	if (strcmp(key, "days") == 0)
		return http_query_count(req, key, value,
		    APPOINTMENTS_MAX_DAYS, &q->days);
	if (strcmp(key, "calendar") == 0) {
		if (http_parse_id(value, &v) == -1) {
			http_problem(req, 400, "bad-request",
			    "calendar must be a calendar id");
			return -1;
		}
		snprintf(q->calendar, sizeof(q->calendar), "%lld",
		    (long long)v);
	} else if (strcmp(key, "date") == 0) {
		if (tz_parse_date(value, strlen(value), &q->day) == -1) {
			http_problem(req, 400, "invalid-date",
			    "date must be a real date as YYYY-MM-DD");
			return -1;
		}
		q->dated = 1;
	} else if (strcmp(key, "status") == 0) {
		if (strcmp(value, "booked") != 0 &&
		    strcmp(value, "cancelled") != 0 &&
		    strcmp(value, "all") != 0) {
			http_problem(req, 400, "bad-request",
			    "status must be booked, cancelled or all");
			return -1;
		}
		snprintf(q->status, sizeof(q->status), "%.15s", value);
	} else if (strcmp(key, "cursor") == 0)
		snprintf(q->cursor, sizeof(q->cursor), "%s", value);
	else
		return http_query_unknown(req, key);
	return 0;
}

/* The listing's parameters; -1 once answered.  A date's day (and the
 * days after it) are those of the schedule's zone. */
static int
page_query(struct http_request *req, struct worker_ctx *w,
    struct page_query *q)
{
	memset(q, 0, sizeof(*q));
	snprintf(q->status, sizeof(q->status), "booked");
	q->limit = APPOINTMENTS_PAGE_DEFAULT;
	q->days = 1;
	if (http_query_walk(req, page_param, q) == -1)
		return -1;
	if (q->dated) {
		tz_use(w->conf->timezone);
		q->from = tz_day_start(q->day);
		q->to = tz_day_start(q->day + q->days);
	}
	return 0;
}

static void
appointment_item(struct emit *e, const struct pg_result *res, int i,
    void *arg)
{
	struct change *c = arg;
	struct db_appointment a;

	db_appointment_row(res, i, &a);
	calendar_zone_use(c->w->conf, a.calendar_id);
	appointment_emit(e, &a);
}

static void
appointments_page(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct change *c = arg;
	struct http_request *req = commit_rows(&c->pending, res, outcome);

	if (req == NULL)
		goto done;
	if (PQntuples(res) == 1 && PQgetisnull(res, 0, DB_COL_A_ID))
		http_problem(req, 400, "invalid-cursor",
		    "this cursor was not issued by this service");
	else
		appointment_page(req, "appointments", res, c->limit,
		    DB_COL_A_CURSOR, appointment_item, c);
done:
	free(c);
}

/* GET /appointments?calendar=&date=&days=&status=&limit=&cursor= */
void
route_appointments_list(struct http_request *req, struct worker_ctx *w,
    const char *unused)
{
	struct page_query q;
	struct change *c;
	struct db_args args;

	(void)unused;
	if (!w->conf->auth_jwt && !http_peer_loopback(req)) {
		http_problem(req, 403, "forbidden", "appointments are listed "
		    "only to this host while [auth] mode = none");
		return;
	}
	if (page_query(req, w, &q) == -1)
		return;
	c = change_new(req, w);
	c->limit = q.limit;
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_OWNER, c->owner);
	db_arg(&args, DB_ARG_ADMIN, c->admin ? "true" : "false");
	db_arg(&args, DB_ARG_CALENDAR, q.calendar[0] != '\0' ? q.calendar :
	    NULL);
	if (q.dated) {
		db_arg_int(&args, DB_ARG_FROM, q.from);
		db_arg_int(&args, DB_ARG_TO, q.to);
	} else {
		db_arg(&args, DB_ARG_FROM, NULL);
		db_arg(&args, DB_ARG_TO, NULL);
	}
	db_arg(&args, DB_ARG_STATUS, q.status);
	db_arg(&args, DB_ARG_CURSOR, q.cursor);
	db_arg_int(&args, DB_ARG_LIMIT, q.limit);
	if (commit_submit(w->commit, req, &c->pending, DB_APPOINTMENT_PAGE,
	    &args, appointments_page, c) == -1)
		free(c);
}
