/*
 * db_codec: what the workers read from and write to PostgreSQL in text
 * form: rows of the slotd_* functions and of appointments, by the columns
 * db_statements.c declares, and array literals.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

static int64_t
db_int(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 :
	    strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *
db_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Row i of a slotd_result set (DB_SHAPE_RESULT); 0, or -1 when there is
 * no such row. */
int
db_result_row(const PGresult *res, int i, struct db_row *r)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK ||
	    PQnfields(res) != DB_RESULT_NCOLS || i >= PQntuples(res))
		return -1;
	r->outcome = PQgetvalue(res, i, DB_COL_OUTCOME);
	r->ref = db_text(res, i, DB_COL_REF);
	r->at = db_int(res, i, DB_COL_AT);
	r->nslot_ids = db_parse_ids(PQgetvalue(res, i, DB_COL_SLOT_IDS),
	    r->slot_ids, DB_MAX_RUN);
	r->span_start = db_int(res, i, DB_COL_SPAN_START);
	r->span_end = db_int(res, i, DB_COL_SPAN_END);
	r->has_slot = !PQgetisnull(res, i, DB_COL_ID);
	r->slot.id = db_int(res, i, DB_COL_ID);
	r->slot.calendar_id = db_int(res, i, DB_COL_CALENDAR);
	r->slot.start = db_int(res, i, DB_COL_START);
	r->slot.end = db_int(res, i, DB_COL_END);
	r->slot.capacity = (int32_t)db_int(res, i, DB_COL_CAPACITY);
	r->slot.booked = (int32_t)db_int(res, i, DB_COL_BOOKED);
	r->slot.version = db_int(res, i, DB_COL_VERSION);
	return 0;
}

/* Row i of an appointments result (DB_SHAPE_APPOINTMENT); the strings
 * live as long as res. */
void
db_appointment_row(const PGresult *res, int i, struct db_appointment *a)
{
	memset(a, 0, sizeof(*a));
	a->id = db_int(res, i, DB_COL_A_ID);
	a->nslot_ids = db_parse_ids(PQgetvalue(res, i, DB_COL_A_SLOT_IDS),
	    a->slot_ids, DB_MAX_RUN);
	a->start = db_int(res, i, DB_COL_A_START);
	a->end = db_int(res, i, DB_COL_A_END);
	a->status = PQgetvalue(res, i, DB_COL_A_STATUS);
	a->name = db_text(res, i, DB_COL_A_NAME);
	a->email = db_text(res, i, DB_COL_A_EMAIL);
	a->note = db_text(res, i, DB_COL_A_NOTE);
	a->created = db_int(res, i, DB_COL_A_CREATED);
	a->calendar_id = db_int(res, i, DB_COL_A_CALENDAR);
	a->updated = db_int(res, i, DB_COL_A_UPDATED);
	a->cancelled = db_int(res, i, DB_COL_A_CANCELLED);
	a->cancel_reason = db_text(res, i, DB_COL_A_CANCEL_REASON);
	a->cursor = db_text(res, i, DB_COL_A_CURSOR);
}

/* Row i of a waitlist entry result (DB_SHAPE_ENTRY); the strings live as
 * long as res. */
void
db_entry_row(const PGresult *res, int i, struct db_entry *en)
{
	memset(en, 0, sizeof(*en));
	en->id = PQgetvalue(res, i, DB_COL_L_ID);
	en->nslot_ids = db_parse_ids(PQgetvalue(res, i, DB_COL_L_SLOT_IDS),
	    en->slot_ids, DB_MAX_RUN);
	en->status = PQgetvalue(res, i, DB_COL_L_STATUS);
	en->position = (int)db_int(res, i, DB_COL_L_POSITION);
	en->hold_id = db_text(res, i, DB_COL_L_HOLD);
	en->offer_expires = db_int(res, i, DB_COL_L_OFFER_EXPIRES);
	en->created = db_int(res, i, DB_COL_L_CREATED);
	en->calendar_id = db_int(res, i, DB_COL_L_CALENDAR);
}

/* Parse a PostgreSQL array literal of integers ("{1,2}"); returns how many
 * there were (only the first max are stored). */
size_t
db_parse_ids(const char *s, int64_t *out, size_t max)
{
	size_t n = 0;
	char *end;

	if (*s++ != '{')
		return 0;
	while (*s != '\0' && *s != '}') {
		int64_t v = strtoll(s, &end, 10);

		if (end == s)
			break;
		if (n < max)
			out[n] = v;
		n++;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* Build a PostgreSQL array literal in b, an element at a time: integers
 * ("{1,2}"), or text quoted and escaped, NULL for SQL NULL ("{"a",NULL}"). */
static void
db_array_next(struct evbuffer *b)
{
	evbuffer_add(b, evbuffer_get_length(b) > 0 ? "," : "{", 1);
}

void
db_array_append(struct evbuffer *b, int64_t v)
{
	db_array_next(b);
	evbuffer_add_printf(b, "%lld", (long long)v);
}

void
db_array_append_text(struct evbuffer *b, const char *v)
{
	size_t plain;

	db_array_next(b);
	if (v == NULL) {
		evbuffer_add(b, "NULL", 4);
		return;
	}
	evbuffer_add(b, "\"", 1);
	while (v[plain = strcspn(v, "\"\\")] != '\0') {
		evbuffer_add(b, v, plain);
		evbuffer_add(b, "\\", 1);
		evbuffer_add(b, v + plain, 1);
		v += plain + 1;
	}
	evbuffer_add(b, v, plain);
	evbuffer_add(b, "\"", 1);
}

/* The finished literal, NUL-terminated ("{}" when nothing was added). */
const char *
db_array_finish(struct evbuffer *b)
{
	if (evbuffer_get_length(b) == 0)
		evbuffer_add(b, "{", 1);
	evbuffer_add(b, "}", 2);
	return (const char *)evbuffer_pullup(b, -1);
}

/* The SQLSTATE of an error result, or "". */
const char *
db_sqlstate(const PGresult *res)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return st != NULL ? st : "";
}
