/*
 * db_statements: the statements workers prepare, declared once.
 *
 * Each statement's SQL is the file src/sql/<name>.sql, embedded at build
 * time.  Its
 * row here says which named arguments it takes, in the order of its $n,
 * and which columns its rows have: callers fill a struct db_args by name
 * (db_arg), the pool sends each statement the values it declares, and a
 * result whose columns are not the declared ones is refused.  A statement
 * whose SQL does not use exactly the parameters declared stops the worker
 * at start (and the unit tests).
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "slotd.h"

static const struct db_statement db_statements[DB_NSTMTS] = {
	[DB_BOOK] = { "book", 1, 0, DB_SHAPE_RESULT, 10,
	    { DB_ARG_SLOT, DB_ARG_COUNT, DB_ARG_NAME, DB_ARG_EMAIL,
	    DB_ARG_NOTE, DB_ARG_OWNER, DB_ARG_KEY, DB_ARG_REQUEST,
	    DB_ARG_HOLD, DB_ARG_ADMIN } },
	[DB_CANCEL] = { "cancel", 1, 0, DB_SHAPE_RESULT, 4,
	    { DB_ARG_APPOINTMENT, DB_ARG_OWNER, DB_ARG_ADMIN,
	    DB_ARG_REASON } },
	[DB_HOLD] = { "hold", 1, 0, DB_SHAPE_RESULT, 5,
	    { DB_ARG_SLOT, DB_ARG_COUNT, DB_ARG_OWNER, DB_ARG_TTL,
	    DB_ARG_ADMIN } },
	[DB_RELEASE] = { "release", 1, 0, DB_SHAPE_RESULT, 2,
	    { DB_ARG_HOLD, DB_ARG_OWNER } },
	[DB_CREATE_SLOTS] = { "create_slots", 1, 0,
	    DB_SHAPE_RESULT, 3,
	    { DB_ARG_STARTS, DB_ARG_ENDS, DB_ARG_CAPACITIES } },
	[DB_SET_CAPACITY] = { "set_capacity", 1, 0,
	    DB_SHAPE_RESULT, 2, { DB_ARG_SLOT, DB_ARG_CAPACITY } },
	[DB_DELETE_SLOT] = { "delete_slot", 1, 0,
	    DB_SHAPE_RESULT, 1, { DB_ARG_SLOT } },
	[DB_GET_APPOINTMENT] = { "get_appointment", 0, 0,
	    DB_SHAPE_APPOINTMENT, 3,
	    { DB_ARG_APPOINTMENT, DB_ARG_OWNER, DB_ARG_ADMIN } },
	[DB_ANNOUNCE] = { "announce", 0, 0, DB_SHAPE_ANNOUNCE, 1,
	    { DB_ARG_PAYLOAD } },
	[DB_BOOK_ONE] = { "book_one", 1, 0, DB_SHAPE_RESULT, 8,
	    { DB_ARG_SLOT, DB_ARG_NAME, DB_ARG_EMAIL, DB_ARG_NOTE,
	    DB_ARG_OWNER, DB_ARG_KEY, DB_ARG_REQUEST, DB_ARG_ADMIN } },
	/* book_lean and book_batch log their changes in a clause; they
	 * are not for admins, whom the calendars' windows do not bind. */
	[DB_BOOK_LEAN] = { "book_lean", 0, DB_BOOK_BATCH,
	    DB_SHAPE_RESULT, 5,
	    { DB_ARG_SLOT, DB_ARG_NAME, DB_ARG_EMAIL, DB_ARG_NOTE,
	    DB_ARG_OWNER } },
	/* The same arguments, one array of each per statement. */
	[DB_BOOK_BATCH] = { "book_batch", 0, 0, DB_SHAPE_RESULT,
	    5, { DB_ARG_SLOT, DB_ARG_NAME, DB_ARG_EMAIL, DB_ARG_NOTE,
	    DB_ARG_OWNER } },
	/* Calendars' slot changes notify and log inside their functions. */
	[DB_CALENDAR_GET] = { "calendar_get", 0, 0, DB_SHAPE_CALENDAR, 1,
	    { DB_ARG_CALENDAR } },
	[DB_CALENDAR_PAGE] = { "calendar_page", 0, 0, DB_SHAPE_CALENDAR, 2,
	    { DB_ARG_CURSOR, DB_ARG_LIMIT } },
	[DB_CALENDAR_CREATE] = { "calendar_create", 0, 0, DB_SHAPE_CALENDAR,
	    4, { DB_ARG_NAME, DB_ARG_TIMEZONE, DB_ARG_SCHEDULE,
	    DB_ARG_RULES } },
	[DB_CALENDAR_UPDATE] = { "calendar_update", 0, 0, DB_SHAPE_CALENDAR,
	    7, { DB_ARG_CALENDAR, DB_ARG_REVISION, DB_ARG_NAME,
	    DB_ARG_TIMEZONE, DB_ARG_SCHEDULE, DB_ARG_RULES, DB_ARG_ROTATE } },
	[DB_CALENDAR_DELETE] = { "calendar_delete", 0, 0, DB_SHAPE_CALENDAR,
	    1, { DB_ARG_CALENDAR } },
	[DB_APPOINTMENT_PAGE] = { "appointment_page", 0, 0,
	    DB_SHAPE_APPOINTMENT, 8, { DB_ARG_OWNER, DB_ARG_ADMIN,
	    DB_ARG_CALENDAR, DB_ARG_FROM, DB_ARG_TO, DB_ARG_STATUS,
	    DB_ARG_CURSOR, DB_ARG_LIMIT } },
	[DB_MOVE] = { "move", 1, 0, DB_SHAPE_RESULT, 7,
	    { DB_ARG_APPOINTMENT, DB_ARG_OWNER, DB_ARG_ADMIN, DB_ARG_SLOT,
	    DB_ARG_COUNT, DB_ARG_KEY, DB_ARG_REQUEST } },
	/* Numbers what committed since, then reads. */
	[DB_EVENTS_PAGE] = { "events_page", 0, 0, DB_SHAPE_EVENT, 2,
	    { DB_ARG_AFTER, DB_ARG_LIMIT } },
	[DB_WEBHOOK_CREATE] = { "webhook_create", 0, 0, DB_SHAPE_WEBHOOK, 4,
	    { DB_ARG_URL, DB_ARG_EVENTS, DB_ARG_DESCRIPTION, DB_ARG_SECRET } },
	[DB_WEBHOOK_GET] = { "webhook_get", 0, 0, DB_SHAPE_WEBHOOK, 1,
	    { DB_ARG_WEBHOOK } },
	[DB_WEBHOOK_UPDATE] = { "webhook_update", 0, 0, DB_SHAPE_WEBHOOK, 6,
	    { DB_ARG_WEBHOOK, DB_ARG_URL, DB_ARG_EVENTS,
	    DB_ARG_SET_DESCRIPTION, DB_ARG_DESCRIPTION, DB_ARG_ENABLED } },
	[DB_WEBHOOK_DELETE] = { "webhook_delete", 0, 0, DB_SHAPE_WEBHOOK, 1,
	    { DB_ARG_WEBHOOK } },
	[DB_WEBHOOK_ATTEMPTS] = { "webhook_attempts", 0, 0, DB_SHAPE_ATTEMPT,
	    2, { DB_ARG_WEBHOOK, DB_ARG_LIMIT } },
	[DB_APPOINTMENT_VEVENT] = { "appointment_event", 0, 0,
	    DB_SHAPE_VEVENT, 3,
	    { DB_ARG_APPOINTMENT, DB_ARG_OWNER, DB_ARG_ADMIN } },
	[DB_CALENDAR_FEED] = { "calendar_feed", 0, 0, DB_SHAPE_VEVENT, 2,
	    { DB_ARG_CALENDAR, DB_ARG_TOKEN } },
	[DB_WAITLIST_JOIN] = { "waitlist_join", 0, 0, DB_SHAPE_ENTRY, 6,
	    { DB_ARG_SLOT, DB_ARG_COUNT, DB_ARG_OWNER, DB_ARG_NAME,
	    DB_ARG_EMAIL, DB_ARG_ADMIN } },
	[DB_WAITLIST_GET] = { "waitlist_get", 0, 0, DB_SHAPE_ENTRY, 3,
	    { DB_ARG_ENTRY, DB_ARG_OWNER, DB_ARG_ADMIN } },
	/* Leaving with an offer frees its seats (to the next entry). */
	[DB_WAITLIST_LEAVE] = { "waitlist_leave", 1, 0, DB_SHAPE_RESULT, 3,
	    { DB_ARG_ENTRY, DB_ARG_OWNER, DB_ARG_ADMIN } },
};

static const char *const db_arg_names[DB_NARGS] = {
	"slot", "count", "name", "email", "note", "owner", "key", "request",
	"hold", "appointment", "admin", "ttl", "starts", "ends", "capacities",
	"capacity", "payload", "calendar", "cursor", "limit", "timezone",
	"schedule", "rules", "revision", "rotate", "from", "to", "status",
	"reason", "after", "webhook", "url", "events", "description",
	"set_description", "secret", "enabled", "token", "entry"
};

/* The columns of each shape, by name. */
static const char *const db_result_cols[] = {
	"outcome", "ref", "at_s", "slot_ids", "span_start_s", "span_end_s",
	"id", "calendar_id", "start_s", "end_s", "capacity", "booked",
	"version", NULL
};
#define DB_APPOINTMENT_COL_NAMES \
	"id", "slot_ids", "start_s", "end_s", "status", "name", "email", \
	"note", "created_s", "calendar_id", "updated_s", "cancelled_s", \
	"cancel_reason", "cursor"
static const char *const db_appointment_cols[] = {
	DB_APPOINTMENT_COL_NAMES, NULL
};
static const char *const db_vevent_cols[] = {
	DB_APPOINTMENT_COL_NAMES, "sequence", "uid", "calendar_name", NULL
};
static const char *const db_announce_cols[] = { "slotd_announce", NULL };
static const char *const db_calendar_cols[] = {
	"outcome", "id", "name", "timezone", "schedule", "rules", "feed_token",
	"created_s", "updated_s", "revision", "kept", "cursor", "managed", NULL
};
static const char *const db_event_cols[] = {
	DB_APPOINTMENT_COL_NAMES, "event_id", "event_type", "event_s",
	"entry_id", "entry_hold_id", "entry_offer_expires_s", NULL
};
static const char *const db_entry_cols[] = {
	"outcome", "entry_id", "slot_ids", "status", "entry_position",
	"entry_hold_id", "entry_offer_expires_s", "created_s", "calendar_id",
	NULL
};
static const char *const db_webhook_cols[] = {
	"id", "url", "events", "description", "enabled", "created_s",
	"updated_s", "secret", NULL
};
static const char *const db_attempt_cols[] = {
	"event_id", "attempt", "at_s", "status_code", "error", "next_s", NULL
};
static const char *const *const db_shapes[] = {
	[DB_SHAPE_RESULT] = db_result_cols,
	[DB_SHAPE_APPOINTMENT] = db_appointment_cols,
	[DB_SHAPE_ANNOUNCE] = db_announce_cols,
	[DB_SHAPE_CALENDAR] = db_calendar_cols,
	[DB_SHAPE_EVENT] = db_event_cols,
	[DB_SHAPE_WEBHOOK] = db_webhook_cols,
	[DB_SHAPE_ATTEMPT] = db_attempt_cols,
	[DB_SHAPE_VEVENT] = db_vevent_cols,
	[DB_SHAPE_ENTRY] = db_entry_cols,
};

/* Workers' statements that call a slotd_* function log the slots it
 * answers for themselves: their connections are quiet (migration 0004),
 * so the table's triggers neither notify nor log.  A change is thus never
 * lost, even when its announcement is (migration 0008).  A refusal's slot
 * is logged too, which costs a needless re-read, no more. */
static const char db_logged_head[] = "WITH r AS (\n";
static const char db_logged_tail[] = "), l AS (INSERT INTO slot_changes "
    "(slot_ids) SELECT array_agg(CASE WHEN outcome = 'deleted' THEN "
    "ref::bigint ELSE id END) FROM r WHERE id IS NOT NULL OR outcome = "
    "'deleted' HAVING count(*) > 0) SELECT * FROM r";

static char	*db_sql[DB_NSTMTS];

/* The highest $n the SQL uses. */
static int
db_sql_params(const char *sql)
{
	const char *p;
	long n, max = 0;
	char *end;

	for (p = strchr(sql, '$'); p != NULL; p = strchr(p + 1, '$'))
		if ((n = strtol(p + 1, &end, 10)) > max && end > p + 1)
			max = n;
	return (int)max;
}

static const char *
db_statement_text(const char *name)
{
	size_t i;

	for (i = 0; i < n_statement_texts; i++)
		if (strcmp(statement_texts[i].name, name) == 0)
			return statement_texts[i].sql;
	fatalx("%s: no src/sql/%s.sql was embedded", __func__, name);
}

/* Compose every statement's SQL and check its parameters: the SQL must
 * use $1..$n for the n arguments declared, no more, no fewer, and a batch
 * form takes (arrays of) its single form's arguments. */
void
db_statements_init(void)
{
	const struct db_statement *st;
	const char *text;
	size_t len;
	int i;

	for (i = 0; i < DB_NSTMTS; i++) {
		st = &db_statements[i];
		if (st->name == NULL)
			fatalx("%s: statement %d is not declared", __func__, i);
		if (db_sql[i] != NULL)
			continue;
		if (st->batch != 0 && (db_statements[st->batch].nparams !=
		    st->nparams || memcmp(db_statements[st->batch].params,
		    st->params, sizeof(st->params)) != 0))
			fatalx("%s: %s and its batch form %s take different "
			    "arguments", __func__, st->name,
			    db_statements[st->batch].name);
		text = db_statement_text(st->name);
		if (db_sql_params(text) != st->nparams)
			fatalx("%s: %s.sql uses %d parameters, %d are declared",
			    __func__, st->name, db_sql_params(text),
			    st->nparams);
		if (!st->logged) {
			db_sql[i] = xstrdup(text);
			continue;
		}
		len = strlen(db_logged_head) + strlen(text) +
		    strlen(db_logged_tail) + 1;
		db_sql[i] = xcalloc(1, len);
		snprintf(db_sql[i], len, "%s%s%s", db_logged_head, text,
		    db_logged_tail);
	}
}

const struct db_statement *
db_statement(enum db_stmt s)
{
	return &db_statements[s];
}

const char *
db_statement_sql(enum db_stmt s)
{
	return db_sql[s];
}

void
db_arg(struct db_args *a, enum db_arg arg, const char *value)
{
	a->value[arg] = value;
	a->given |= (uint64_t)1 << arg;
}

void
db_arg_int(struct db_args *a, enum db_arg arg, int64_t v)
{
	snprintf(a->num[arg], sizeof(a->num[arg]), "%lld", (long long)v);
	db_arg(a, arg, a->num[arg]);
}

/* The values of stmt's parameters in $n order.  An argument the
 * statement takes but the caller did not give is a bug: stop. */
void
db_args_values(const struct db_args *a, enum db_stmt stmt,
    const char **values)
{
	const struct db_statement *st = &db_statements[stmt];
	int i;

	for (i = 0; i < st->nparams; i++) {
		if (!(a->given & ((uint64_t)1 << st->params[i])))
			fatalx("%s: %s needs the argument %s", __func__,
			    st->name, db_arg_names[st->params[i]]);
		values[i] = a->value[st->params[i]];
	}
}

/* 0 when a result of stmt has the columns its shape declares, by number
 * and name; -1 (logged) when not. */
int
db_result_check(const PGresult *res, enum db_stmt stmt)
{
	const char *const *cols = db_shapes[db_statements[stmt].shape];
	int i;

	for (i = 0; cols[i] != NULL; i++)
		if (i >= PQnfields(res) || strcmp(PQfname(res, i), cols[i]))
			break;
	if (cols[i] == NULL && i == PQnfields(res))
		return 0;
	log_warnx("%s: the result of %s has %d columns; column %d is %s, "
	    "not %s", __func__, db_statements[stmt].name, PQnfields(res), i,
	    i < PQnfields(res) ? PQfname(res, i) : "missing",
	    cols[i] != NULL ? cols[i] : "expected");
	return -1;
}
