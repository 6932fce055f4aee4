/*
 * route_slots_admin: the admin calls on slots, POST /slots, PATCH and
 * DELETE /slots/{id}: each one statement in PostgreSQL, whose answer
 * updates the shared table before the client hears of it.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

/* A slot id of the path, or 404. */
static int
slot_id_found(struct http_request *req, const char *id)
{
	int64_t n;

	if (http_parse_id(id, &n) == 0)
		return 1;
	http_problem(req, 404, "slot-not-found", "no slot with id %.32s", id);
	return 0;
}

#define SLOTS_MAX_CREATE	1000

struct slot_change {
	struct http_pending	 pending;
	struct worker_ctx	*w;
	int			 array;		/* POST answered with an array */
	int			 apply;		/* slot_table_apply() flags */
};

static void
send_slots(struct http_request *req, struct worker_ctx *w,
    const struct slot *slots, size_t n, int array, int status)
{
	struct evbuffer *body = evbuffer_new();
	int msgpack = http_wants_msgpack(req);
	struct emit *e = emit_new(body, msgpack);
	char location[48];
	size_t i;

	tz_use(w->conf->timezone);
	if (array)
		emit_array(e, n);
	for (i = 0; i < n; i++)
		slots_doc_slot(e, &slots[i]);
	if (array)
		emit_end(e);
	emit_free(e);
	snprintf(location, sizeof(location), "/slots/%lld",
	    (long long)slots[0].id);
	http_send_doc(req, status, body, msgpack, status == 201 && !array ?
	    location : NULL);
	evbuffer_free(body);
}

/* Every answer of the admin calls: created, updated, deleted or refused. */
static void
slot_changed(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct slot_change *c = arg;
	struct http_request *req;
	struct slot *slots = NULL;
	const char *failure;
	struct db_row r;
	int i, n;

	if (outcome == DB_DONE && (strcmp(db_sqlstate(res), "23P01") == 0 ||
	    strcmp(db_sqlstate(res), "23505") == 0)) {
		if ((req = http_pending_finish(&c->pending)) != NULL)
			http_problem(req, 409, "slot-overlap",
			    "a slot overlaps another slot of the calendar");
		goto done;
	}
	if ((req = commit_answer(c->w->commit, &c->pending, res, outcome, c->apply,
	    &r, &failure)) == NULL)
		goto done;
	if (strcmp(r.outcome, "deleted") == 0) {
		commit_deleted(c->w->commit, strtoll(r.ref, NULL, 10));
		http_reply(req, 204, NULL);
	} else if (strcmp(r.outcome, "created") == 0 ||
	    strcmp(r.outcome, "updated") == 0) {
		n = PQntuples(res);
		slots = xcalloc((size_t)n, sizeof(*slots));
		for (i = 0; i < n && db_result_row(res, i, &r) == 0; i++)
			slots[i] = r.slot;
		send_slots(req, c->w, slots, (size_t)n, c->array,
		    strcmp(r.outcome, "created") == 0 ? 201 : 200);
	} else if (strcmp(r.outcome, "slot-not-found") == 0)
		http_problem(req, 404, "slot-not-found", "no such slot");
	else if (strcmp(r.outcome, "capacity-below-booked") == 0)
		http_problem(req, 409, "capacity-below-booked", "slot %lld has "
		    "%d seats taken", (long long)r.slot.id, r.slot.booked);
	else if (strcmp(r.outcome, "slot-has-bookings") == 0)
		http_problem(req, 409, "slot-has-bookings", "slot %lld has %d "
		    "seats booked or held", (long long)r.slot.id,
		    r.slot.booked);
	else
		http_problem(req, 503, "unavailable", "unexpected outcome");
done:
	free(slots);
	free(c);
}

/* Only a creation may add slots to the table: the state a capacity change
 * or a refused deletion returns must not bring back a slot that another
 * worker deleted meanwhile. */
static void
slot_change_send(struct http_request *req, struct slot_change *c,
    enum db_stmt stmt, const struct db_args *args)
{
	c->apply = stmt == DB_CREATE_SLOTS ? 0 : SLOT_APPLY_UPDATE_ONLY;
	if (commit_submit(c->w->commit, req, &c->pending, stmt, args,
	    slot_changed, c) == -1)
		free(c);
}

/* The UTC second of the RFC 3339 time v of field, or -1 once answered. */
static int
slot_time(struct http_request *req, const char *field, const char *v,
    int64_t *t)
{
	const char *why;

	if (tz_parse_rfc3339(v, t, &why) == -1) {
		http_problem(req, 400, "invalid-field", "%s: %s", field, why);
		return -1;
	}
	return 0;
}

/* One {"startTime","endTime","capacity"} into the three arrays. */
static int
slot_spec(struct http_request *req, struct json_doc *doc, int tok,
    struct evbuffer *starts, struct evbuffer *ends, struct evbuffer *caps)
{
	char *start = NULL, *end = NULL;
	int64_t capacity = 0, s, e;
	int has_cap = 0, rc = -1;
	struct json_field fields[] = {
		{ "startTime", JSON_FIELD_STRING, 1, 64, &start, NULL, 0,
		    NULL, NULL, NULL },
		{ "endTime", JSON_FIELD_STRING, 1, 64, &end, NULL, 0, NULL,
		    NULL, NULL },
		{ "capacity", JSON_FIELD_INT, 1, 100000, &capacity, &has_cap,
		    0, NULL, NULL, NULL },
	};
	struct json_error err;

	if (json_object(doc, tok, fields, 3, &err) == -1) {
		http_field_problem(req, &err);
		goto out;
	}
	if (start == NULL || end == NULL || !has_cap) {
		http_problem(req, 400, "invalid-field", "%s: required",
		    start == NULL ? "startTime" : end == NULL ? "endTime" :
		    "capacity");
		goto out;
	}
	if (slot_time(req, "startTime", start, &s) == -1 ||
	    slot_time(req, "endTime", end, &e) == -1)
		goto out;
	if (e <= s) {
		http_problem(req, 400, "invalid-field",
		    "endTime: must be after startTime");
		goto out;
	}
	db_array_append(starts, s);
	db_array_append(ends, e);
	db_array_append(caps, capacity);
	rc = 0;
out:
	free(start);
	free(end);
	return rc;
}

/* POST /slots */
void
route_slots_create(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	struct evbuffer *arr[3];
	struct slot_change *c;
	struct json_doc *doc;
	struct db_args args;
	int items[SLOTS_MAX_CREATE], n, i, ok = 1;
	char *body;

	(void)id;
	if ((doc = http_json_body(req, &body)) == NULL)
		return;
	for (i = 0; i < 3; i++)
		arr[i] = evbuffer_new();
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	c->array = json_root_type(doc) == JSON_ARRAY;
	if (c->array) {
		n = json_array_items(doc, 0, items, SLOTS_MAX_CREATE);
		if (n < 1 || n > SLOTS_MAX_CREATE) {
			http_problem(req, 400, "invalid-field", "an array of "
			    "1..%d slots is expected", SLOTS_MAX_CREATE);
			ok = 0;
		}
	} else {
		n = 1;
		items[0] = 0;
	}
	for (i = 0; ok && i < n; i++)
		if (slot_spec(req, doc, items[i], arr[0], arr[1], arr[2]) == -1)
			ok = 0;
	json_free(doc);
	free(body);
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_STARTS, db_array_finish(arr[0]));
	db_arg(&args, DB_ARG_ENDS, db_array_finish(arr[1]));
	db_arg(&args, DB_ARG_CAPACITIES, db_array_finish(arr[2]));
	if (ok)
		slot_change_send(req, c, DB_CREATE_SLOTS, &args);
	else
		free(c);
	for (i = 0; i < 3; i++)
		evbuffer_free(arr[i]);
}

/* PATCH /slots/{id} */
void
route_slot_patch(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	int64_t capacity = 0;
	int has_cap = 0, rc;
	struct json_field fields[] = {
		{ "capacity", JSON_FIELD_INT, 1, 100000, &capacity, &has_cap,
		    0, NULL, NULL, NULL },
	};
	struct slot_change *c;
	struct json_error e;
	struct json_doc *doc;
	struct db_args args;
	char *body;

	if (!slot_id_found(req, id) ||
	    (doc = http_json_body(req, &body)) == NULL)
		return;
	rc = json_object(doc, 0, fields, 1, &e);
	json_free(doc);
	free(body);
	if (rc == -1 || !has_cap) {
		if (rc == -1)
			http_field_problem(req, &e);
		else
			http_problem(req, 400, "invalid-field",
			    "capacity: required");
		return;
	}
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_SLOT, id);
	db_arg_int(&args, DB_ARG_CAPACITY, capacity);
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	slot_change_send(req, c, DB_SET_CAPACITY, &args);
}

/* DELETE /slots/{id} */
void
route_slot_delete(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	struct slot_change *c;
	struct db_args args;

	if (!slot_id_found(req, id))
		return;
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_SLOT, id);
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	slot_change_send(req, c, DB_DELETE_SLOT, &args);
}
