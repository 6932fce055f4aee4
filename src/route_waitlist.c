/*
 * route_waitlist: POST /waitlist (wait for a full slot), GET and DELETE
 * /waitlist/{id} (API.md, "Waitlist").  The seats that free up are offered in the
 * transactions that free them (migration 0012): nothing here waits for
 * them.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

struct entry_call {
	struct http_pending	 pending;
	struct worker_ctx	*w;
	int64_t			 slot_id;
	int64_t			 count;
	char			 id[40];	/* of the path */
};

static void
entry_send(struct http_request *req, const struct config *conf,
    const PGresult *res, int status)
{
	struct evbuffer *body = evbuffer_new();
	int msgpack = http_wants_msgpack(req);
	struct emit *e = emit_new(body, msgpack);
	struct db_entry en;
	char location[64];

	db_entry_row(res, 0, &en);
	waitlist_emit(e, conf, &en);
	emit_free(e);
	snprintf(location, sizeof(location), "/waitlist/%s", en.id);
	http_send_doc(req, status, body, msgpack, status == 201 ? location :
	    NULL);
	evbuffer_free(body);
}

static void
entry_joined(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct entry_call *c = arg;
	struct http_request *req;
	struct db_row r;

	if ((req = commit_rows(&c->pending, res, outcome)) == NULL)
		goto done;
	memset(&r, 0, sizeof(r));
	r.outcome = PQgetvalue(res, 0, DB_COL_L_OUTCOME);
	r.slot.id = c->slot_id;
	if (strcmp(r.outcome, "waiting") == 0)
		entry_send(req, c->w->conf, res, 201);
	else if (strcmp(r.outcome, "slot-available") == 0)
		http_problem(req, 409, "slot-available", "slot %lld has a free "
		    "seat: book it instead", (long long)c->slot_id);
	else if (strcmp(r.outcome, "already-waiting") == 0)
		http_problem(req, 409, "already-waiting", "you already wait for "
		    "slot %lld", (long long)c->slot_id);
	else if (!rules_refusal(req, &r, c->slot_id, c->count))
		http_problem(req, 503, "unavailable", "unexpected outcome");
done:
	free(c);
}

/* POST /waitlist {"slotId":N,"slots":k,"name","email"} */
void
route_waitlist_join(struct http_request *req, struct worker_ctx *w,
    const char *unused)
{
	struct entry_call *c = xcalloc(1, sizeof(*c));
	struct principal *who = http_principal(req);
	char *name = NULL, *email = NULL, *body;
	int has_slot = 0;
	struct json_field f[] = {
		{ "slotId", JSON_FIELD_INT, 1, INT64_MAX, &c->slot_id,
		    &has_slot, 0, NULL, NULL, NULL },
		{ "slots", JSON_FIELD_INT, 1, DB_MAX_RUN, &c->count, NULL, 0,
		    "too-many-slots", NULL, NULL },
		{ "name", JSON_FIELD_STRING, 1, 200, &name, NULL, 1, NULL,
		    rules_single_line, "must be one line of text" },
		{ "email", JSON_FIELD_STRING, 3, 254, &email, NULL, 1, NULL,
		    rules_email_plausible, "must be an e-mail address" },
	};
	struct json_error e;
	struct json_doc *doc;
	struct db_args args;
	int rc;

	(void)unused;
	c->w = w;
	c->count = 1;
	if ((doc = http_json_body(req, &body)) == NULL)
		goto refused;
	rc = json_object(doc, 0, f, sizeof(f) / sizeof(f[0]), &e);
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
	memset(&args, 0, sizeof(args));
	db_arg_int(&args, DB_ARG_SLOT, c->slot_id);
	db_arg_int(&args, DB_ARG_COUNT, c->count);
	db_arg(&args, DB_ARG_OWNER, who->sub);
	db_arg(&args, DB_ARG_NAME, name);
	db_arg(&args, DB_ARG_EMAIL, email);
	db_arg(&args, DB_ARG_ADMIN, who->admin ? "true" : "false");
	rc = commit_submit(w->commit, req, &c->pending, DB_WAITLIST_JOIN, &args,
	    entry_joined, c);
	free(name);
	free(email);
	if (rc == 0)
		return;
	free(c);
	return;
refused:
	free(name);
	free(email);
	free(c);
}

static void
entry_found(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct entry_call *c = arg;
	struct http_request *req;

	if ((req = commit_rows(&c->pending, res, outcome)) != NULL &&
	    PQntuples(res) == 0)
		http_problem(req, 404, "waitlist-not-found", "no waitlist entry "
		    "%s", c->id);
	else if (req != NULL)
		entry_send(req, c->w->conf, res, 200);
	free(c);
}

static void
entry_left(struct pg_result *res, enum db_outcome outcome, void *arg)
{
	struct entry_call *c = arg;
	struct http_request *req;
	const char *failure;
	struct db_row r;

	req = commit_answer(c->w->commit, &c->pending, res, outcome,
	    SLOT_APPLY_UPDATE_ONLY, &r, &failure);
	if (req != NULL && strcmp(r.outcome, "not-found") == 0)
		http_problem(req, 404, "waitlist-not-found", "no waitlist entry "
		    "%s", c->id);
	else if (req != NULL)
		http_reply(req, 204, NULL);
	free(c);
}

/* GET, HEAD and DELETE /waitlist/{id} */
void
route_waitlist_entry(struct http_request *req, struct worker_ctx *w,
    const char *idstr)
{
	struct principal *who = http_principal(req);
	struct entry_call *c;
	struct db_args args;
	int del = http_method(req) == HTTP_METHOD_DELETE;

	if (!rules_uuid_valid(idstr)) {
		http_problem(req, 404, "waitlist-not-found", "no waitlist entry "
		    "%.40s", idstr);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	snprintf(c->id, sizeof(c->id), "%s", idstr);
	memset(&args, 0, sizeof(args));
	db_arg(&args, DB_ARG_ENTRY, c->id);
	db_arg(&args, DB_ARG_OWNER, who->sub);
	db_arg(&args, DB_ARG_ADMIN, who->admin ? "true" : "false");
	if (commit_submit(w->commit, req, &c->pending, del ? DB_WAITLIST_LEAVE :
	    DB_WAITLIST_GET, &args, del ? entry_left : entry_found, c) == -1)
		free(c);
}
