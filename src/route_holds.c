/*
 * route_holds: POST /holds takes seats for [holds] ttl_seconds while a
 * parent fills in a form; DELETE /holds/{id} gives them back.  Expiry is
 * the syncer's job.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "slotd.h"

struct hold {
	struct http_pending	 pending;
	struct worker_ctx	*w;
	int64_t			 slot_id;
	int64_t			 count;
};

static void
hold_created(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct hold *h = arg;
	struct http_request *req;
	struct evbuffer *body;
	const char *failure;
	struct emit *e;
	struct db_row r;
	char buf[40], location[64];
	size_t i;
	int msgpack;

	req = commit_answer(h->w->commit, &h->pending, res, outcome,
	    SLOT_APPLY_UPDATE_ONLY, &r, &failure);
	if (req == NULL)
		goto done;
	if (strcmp(r.outcome, "held") != 0) {
		if (!rules_refusal(req, &r, h->slot_id, h->count))
			http_problem(req, 503, "unavailable",
			    "unexpected outcome");
		goto done;
	}
	tz_use(h->w->conf->timezone);
	msgpack = http_wants_msgpack(req);
	body = evbuffer_new();
	e = emit_new(body, msgpack);
	emit_map(e, 4);
	emit_key(e, "id");
	emit_str(e, r.ref);
	emit_key(e, "slotId");
	emit_int(e, r.slot_ids[0]);
	emit_key(e, "slotIds");
	emit_array(e, r.nslot_ids);
	for (i = 0; i < r.nslot_ids; i++)
		emit_int(e, r.slot_ids[i]);
	emit_end(e);
	emit_key(e, "expiresAt");
	emit_strn(e, buf, tz_format_rfc3339(r.at, buf, sizeof(buf)));
	emit_end(e);
	emit_free(e);
	snprintf(location, sizeof(location), "/holds/%s", r.ref);
	http_send_doc(req, 201, body, msgpack, location);
	evbuffer_free(body);
done:
	free(h);
}

/* POST /holds */
void
route_holds_create(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	struct hold *h = xcalloc(1, sizeof(*h));
	int has_slot = 0, has_count = 0, rc;
	struct json_field fields[] = {
		{ "slotId", JSON_FIELD_INT, 1, INT64_MAX, &h->slot_id,
		    &has_slot, 0, NULL, NULL, NULL },
		{ "slots", JSON_FIELD_INT, 1, DB_MAX_RUN, &h->count,
		    &has_count, 0, "too-many-slots", NULL, NULL },
	};
	struct principal *who = http_principal(req);
	struct db_args args;
	struct json_error e;
	char *body;
	struct json_doc *doc;

	(void)id;
	h->w = w;
	if ((doc = http_json_body(req, &body)) == NULL)
		goto refused;
	rc = json_object(doc, 0, fields, 2, &e);
	json_free(doc);
	free(body);
	if (rc == -1) {
		http_field_problem(req, &e);
		goto refused;
	}
	if (!has_slot) {
		http_problem(req, 400, "invalid-field", "slotId: required");
		goto refused;
	}
	if (!has_count)
		h->count = 1;
	if (rules_precheck(req, w->table, h->slot_id, h->count) != NULL)
		goto refused;
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_SLOT, h->slot_id);
	db_arg_int(&args, DB_ARG_COUNT, h->count);
	db_arg(&args, DB_ARG_OWNER, who->sub);
	db_arg_int(&args, DB_ARG_TTL, w->conf->hold_ttl_seconds);
	db_arg(&args, DB_ARG_ADMIN, who->admin ? "true" : "false");
	if (commit_submit(w->commit, req, &h->pending, DB_HOLD, &args,
	    hold_created, h) == -1)
		goto refused;
	return;
refused:
	free(h);
}

static void
hold_released(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct hold *h = arg;
	struct http_request *req;
	const char *failure;
	struct db_row r;

	req = commit_answer(h->w->commit, &h->pending, res, outcome,
	    SLOT_APPLY_UPDATE_ONLY, &r, &failure);
	if (req == NULL)
		goto done;
	if (strcmp(r.outcome, "not-found") == 0)
		http_problem(req, 404, "not-found",
		    "no such hold (released or expired)");
	else
		http_reply(req, 204, NULL);
done:
	free(h);
}

/* DELETE /holds/{id} */
void
route_hold_release(struct http_request *req, struct worker_ctx *w,
    const char *id)
{
	struct hold *h;
	struct db_args args;

	if (!rules_uuid_valid(id)) {
		http_problem(req, 404, "not-found", "no such hold");
		return;
	}
	h = xcalloc(1, sizeof(*h));
	h->w = w;
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_HOLD, id);
	db_arg(&args, DB_ARG_OWNER, http_principal(req)->sub);
	if (commit_submit(w->commit, req, &h->pending, DB_RELEASE, &args,
	    hold_released, h) == -1)
		free(h);
}
