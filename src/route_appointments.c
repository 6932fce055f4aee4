/*
 * route_appointments: POST /appointments (book, or convert a hold),
 * GET and DELETE /appointments/{id}.  PostgreSQL decides every booking in
 * one round trip; the shared table may only answer a fast "no".
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

struct booking {
	struct http_pending	 pending;
	struct worker_ctx	*w;
	int64_t			 slot_id;
	int64_t			 count;
	char			*name;
	char			*email;
	char			*note;
	char			*hold_id;
	int			 has_slot;
	int			 has_count;
};

static void
booking_clear(struct booking *b)
{
	free(b->name);
	free(b->email);
	free(b->note);
	free(b->hold_id);
}

/* Answers the request and returns -1 when the body is refused. */
static int
booking_parse(struct http_request *req, struct booking *b,
    int max_slots)
{
	struct json_field fields[] = {
		{ "slotId", JSON_FIELD_INT, 1, INT64_MAX, &b->slot_id,
		    &b->has_slot, 0, NULL, NULL, NULL },
		{ "slots", JSON_FIELD_INT, 1, max_slots, &b->count,
		    &b->has_count, 0, "too-many-slots", NULL, NULL },
		{ "name", JSON_FIELD_STRING, 1, 200, &b->name, NULL, 1, NULL,
		    rules_single_line, "must be one line of text" },
		{ "email", JSON_FIELD_STRING, 3, 254, &b->email, NULL, 1, NULL,
		    rules_email_plausible, "must be an e-mail address" },
		{ "note", JSON_FIELD_STRING, 0, 1000, &b->note, NULL, 1, NULL,
		    NULL, NULL },
		{ "holdId", JSON_FIELD_STRING, 36, 36, &b->hold_id, NULL, 1,
		    NULL, rules_uuid_valid, "must be a UUID" },
	};
	struct json_error e;
	struct json_doc *doc;
	char *body;
	int rc;

	if ((doc = http_json_body(req, &body)) == NULL)
		return -1;
	rc = json_object(doc, 0, fields, sizeof(fields) / sizeof(fields[0]),
	    &e);
	json_free(doc);
	free(body);
	if (rc == -1) {
		http_field_problem(req, &e);
		return -1;
	}
	if (!b->has_slot && b->hold_id == NULL) {
		http_problem(req, 400, "invalid-field",
		    "slotId: required unless holdId is given");
		return -1;
	}
	if (b->hold_id == NULL && !b->has_count)
		b->count = 1;
	return 0;
}

/* Count a POST /appointments by its outcome name. */
static void
booking_count(const char *outcome)
{
	static const struct {
		const char		*name;
		enum metrics_booking	 m;
	} map[] = {
		{ "booked", BOOKING_BOOKED }, { "replayed", BOOKING_REPLAYED },
		{ "key-reused", BOOKING_KEY_REUSED },
		{ "slot-not-found", BOOKING_SLOT_NOT_FOUND },
		{ "slot-full", BOOKING_SLOT_FULL },
		{ "slot-in-past", BOOKING_SLOT_IN_PAST },
		{ "not-consecutive", BOOKING_NOT_CONSECUTIVE },
		{ "hold-expired", BOOKING_HOLD_EXPIRED },
		{ "hold-mismatch", BOOKING_INVALID },
		{ "too-many-slots", BOOKING_INVALID },
		{ "outside-booking-window", BOOKING_OUTSIDE_WINDOW },
		{ "invalid", BOOKING_INVALID },
		{ "unknown", BOOKING_UNKNOWN },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].name, outcome) == 0) {
			metrics_booking(map[i].m);
			return;
		}
	}
	metrics_booking(BOOKING_UNAVAILABLE);
}

static void
booking_done(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct booking *b = arg;
	struct http_request *req;
	struct db_appointment a;
	const char *failure;
	struct db_row r;

	req = commit_answer(b->w->commit, &b->pending, res, outcome,
	    SLOT_APPLY_UPDATE_ONLY, &r, &failure);
	booking_count(failure != NULL ? failure : r.outcome);
	if (req == NULL)
		goto done;
	if (strcmp(r.outcome, "booked") == 0 ||
	    strcmp(r.outcome, "replayed") == 0) {
		memset(&a, 0, sizeof(a));
		a.id = strtoll(r.ref, NULL, 10);
		memcpy(a.slot_ids, r.slot_ids, sizeof(a.slot_ids));
		a.nslot_ids = r.nslot_ids;
		a.start = r.span_start;
		a.end = r.span_end;
		a.created = a.updated = r.at;
		a.calendar_id = r.slot.calendar_id;
		a.status = "booked";
		a.name = b->name;
		a.email = b->email;
		a.note = b->note;
		appointment_send(req, b->w->conf, &a, 201);
	} else if (strcmp(r.outcome, "key-reused") == 0)
		http_problem(req, 422, "idempotency-key-reused", "this "
		    "Idempotency-Key was used with a different request");
	else if (strcmp(r.outcome, "hold-expired") == 0)
		http_problem(req, 410, "hold-expired",
		    "the hold has expired or does not exist");
	else if (strcmp(r.outcome, "hold-mismatch") == 0)
		http_problem(req, 400, "invalid-field",
		    "slotId and slots must match the hold");
	else if (!rules_refusal(req, &r, b->slot_id, b->count))
		http_problem(req, 503, "unavailable", "unexpected outcome");
done:
	booking_clear(b);
	free(b);
}

/* The request in one canonical line, stored with an idempotency key so
 * that a retry can be told from a different request. */
static char *
booking_canonical(const struct booking *b)
{
	struct evbuffer *buf = evbuffer_new();
	struct emit *e = emit_new(buf, 0);
	char *s;
	size_t len;

	emit_array(e, 6);
	emit_int(e, b->has_slot ? b->slot_id : 0);
	emit_int(e, b->has_count ? b->count : 0);
	emit_str_or_null(e, b->name);
	emit_str_or_null(e, b->email);
	emit_str_or_null(e, b->note);
	emit_str_or_null(e, b->hold_id);
	emit_end(e);
	emit_free(e);
	len = evbuffer_get_length(buf);
	s = xcalloc(1, len + 1);
	evbuffer_copyout(buf, s, len);
	evbuffer_free(buf);
	return s;
}

/* POST /appointments */
void
route_appointments_create(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	struct booking parsed, *b = &parsed;
	struct principal *who = http_principal(req);
	const char *key, *no;
	char *canonical = NULL;
	struct db_args args;
	enum db_stmt stmt;

	(void)id;
	memset(&parsed, 0, sizeof(parsed));
	if (rules_idempotency_key(req, &key) == -1 ||
	    booking_parse(req, b, DB_MAX_RUN) == -1) {
		booking_count("invalid");
		goto refused;
	}
	/* A retry must reach its stored answer, full slot or not. */
	if (b->hold_id == NULL && key == NULL &&
	    (no = rules_precheck(req, w->table, b->slot_id, b->count)) !=
	    NULL) {
		booking_count(no);
		goto refused;
	}
	/* Refused from memory without the heap, as a flash crowd is; what
	 * goes to the database outlives this call. */
	b = xcalloc(1, sizeof(*b));
	*b = parsed;
	b->w = w;
	if (key != NULL)
		canonical = booking_canonical(b);
	memset(&args, 0, sizeof(args));
	if (b->has_slot)
		db_arg_int(&args, DB_ARG_SLOT, b->slot_id);
	else
		db_arg(&args, DB_ARG_SLOT, NULL);	/* the hold's */
	if (b->has_count || b->hold_id == NULL)
		db_arg_int(&args, DB_ARG_COUNT, b->count);
	else
		db_arg(&args, DB_ARG_COUNT, NULL);	/* the hold's */
	db_arg(&args, DB_ARG_NAME, b->name);
	db_arg(&args, DB_ARG_EMAIL, b->email);
	db_arg(&args, DB_ARG_NOTE, b->note);
	db_arg(&args, DB_ARG_OWNER, who->sub);
	db_arg(&args, DB_ARG_KEY, key);
	db_arg(&args, DB_ARG_REQUEST, canonical);
	db_arg(&args, DB_ARG_HOLD, b->hold_id);
	db_arg(&args, DB_ARG_ADMIN, who->admin ? "true" : "false");
	/* One slot without a hold: the short forms, with the same answers
	 * (the shortest not for admins, whom the windows do not bind). */
	stmt = b->hold_id != NULL || b->count != 1 ? DB_BOOK :
	    key != NULL || who->admin ? DB_BOOK_ONE : DB_BOOK_LEAN;
	if (commit_submit(w->commit, req, &b->pending, stmt, &args, booking_done,
	    b) == -1) {
		booking_count("unavailable");
		goto refused;
	}
	free(canonical);
	return;
refused:
	free(canonical);
	booking_clear(b);
	if (b != &parsed)
		free(b);
}

struct lookup {
	struct http_pending	 pending;
	struct worker_ctx	*w;
};

static void
appointment_found(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct lookup *l = arg;
	struct http_request *req = http_pending_finish(&l->pending);

	if (req != NULL)
		appointment_answer(req, l->w->conf, res, outcome);
	free(l);
}

static void
appointment_event_found(struct pg_result *res, enum db_outcome outcome,
    void *arg)
{
	struct lookup *l = arg;
	struct http_request *req = http_pending_finish(&l->pending);

	if (req != NULL)
		appointment_answer_event(req, res, outcome);
	free(l);
}

static void
appointment_cancelled(struct pg_result *res, enum db_outcome outcome,
    void *arg)
{
	struct lookup *l = arg;
	struct http_request *req;
	const char *failure;
	struct db_row r;

	req = commit_answer(l->w->commit, &l->pending, res, outcome,
	    SLOT_APPLY_UPDATE_ONLY, &r, &failure);
	if (req == NULL)
		goto done;
	if (strcmp(r.outcome, "not-found") == 0)
		http_problem(req, 404, "not-found", "no such appointment");
	else if (!rules_refusal(req, &r, 0, 0))
		http_reply(req, 204, NULL);
done:
	free(l);
}

/* GET, HEAD and DELETE /appointments/{id}.  A read answers the document
 * (JSON or MessagePack), or the appointment as an iCalendar event when
 * Accept prefers text/calendar. */
void
route_appointment(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	struct lookup *l;
	struct principal *who = http_principal(req);
	struct db_args args;
	enum db_stmt stmt = DB_CANCEL;
	db_callback done = appointment_cancelled;
	int64_t id;

	if (http_method(req) != HTTP_METHOD_DELETE) {
		http_vary(req, "Accept");
		stmt = DB_GET_APPOINTMENT;
		done = appointment_found;
		if (http_accept(req, HTTP_OFFER(HTTP_FORMAT_MSGPACK) |
		    HTTP_OFFER(HTTP_FORMAT_CALENDAR)) == HTTP_FORMAT_CALENDAR) {
			stmt = DB_APPOINTMENT_VEVENT;
			done = appointment_event_found;
		}
	}
	if (http_parse_id(idstr, &id) == -1) {
		http_problem(req, 404, "not-found", "no such appointment");
		return;
	}
	l = xcalloc(1, sizeof(*l));
	l->w = w;
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_APPOINTMENT, idstr);
	db_arg(&args, DB_ARG_OWNER, who->sub);
	db_arg(&args, DB_ARG_ADMIN, who->admin ? "true" : "false");
	db_arg(&args, DB_ARG_REASON, NULL);
	if (commit_submit(w->commit, req, &l->pending, stmt, &args, done,
	    l) == -1)
		free(l);
}
