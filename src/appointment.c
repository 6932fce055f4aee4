/*
 * appointment: the appointment document (API.md, "Appointments"), as the
 * booking, reading, listing, moving and cancelling routes answer it, and
 * the page of a listing (of appointments, of calendars).  Its times are in
 * the zone of its calendar.  And the appointment as an iCalendar event,
 * and a waitlist entry's document (API.md, "Waitlist"), which its events
 * carry too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

static void
emit_time(struct emit *e, int64_t t)
{
	char buf[40];

	emit_strn(e, buf, tz_format_rfc3339(t, buf, sizeof(buf)));
}

/* The document of a; cancelledAt and cancelReason once it is cancelled.
 * The caller has made the zone current (calendar_zone_use). */
void
appointment_emit(struct emit *e, const struct db_appointment *a)
{
	int cancelled = a->cancelled != 0;
	size_t i;

	emit_map(e, 12 + 2 * cancelled);
	emit_key(e, "id");
	emit_int(e, a->id);
	emit_key(e, "calendarId");
	emit_int(e, a->calendar_id);
	emit_key(e, "slotId");
	emit_int(e, a->slot_ids[0]);
	emit_key(e, "slotIds");
	emit_array(e, a->nslot_ids);
	for (i = 0; i < a->nslot_ids; i++)
		emit_int(e, a->slot_ids[i]);
	emit_end(e);
	emit_key(e, "startTime");
	emit_time(e, a->start);
	emit_key(e, "endTime");
	emit_time(e, a->end);
	emit_key(e, "name");
	emit_str_or_null(e, a->name);
	emit_key(e, "email");
	emit_str_or_null(e, a->email);
	emit_key(e, "note");
	emit_str_or_null(e, a->note);
	emit_key(e, "status");
	emit_str(e, a->status);
	emit_key(e, "createdAt");
	emit_time(e, a->created);
	emit_key(e, "updatedAt");
	emit_time(e, a->updated);
	if (cancelled) {
		emit_key(e, "cancelledAt");
		emit_time(e, a->cancelled);
		emit_key(e, "cancelReason");
		emit_str_or_null(e, a->cancel_reason);
	}
	emit_end(e);
}

/* Make the zone of a calendar current: the times of its appointments and
 * entries are shown in it (in the [schedule] zone while the calendars are
 * not known yet). */
void
calendar_zone_use(const struct config *conf, int64_t calendar_id)
{
	char zone[128];

	if (caldir_get(calendar_id, zone, sizeof(zone)) &&
	    tz_use(zone) == 0)
		return;
	tz_use(conf->timezone);
}

/* Answer req with a's document (201 with its Location when created). */
void
appointment_send(struct http_request *req, const struct config *conf,
    const struct db_appointment *a, int status)
{
	struct evbuffer *body = evbuffer_new();
	int msgpack = http_wants_msgpack(req);
	struct emit *e = emit_new(body, msgpack);
	char location[64];

	calendar_zone_use(conf, a->calendar_id);
	appointment_emit(e, a);
	emit_free(e);
	snprintf(location, sizeof(location), "/appointments/%lld",
	    (long long)a->id);
	http_send_doc(req, status, body, msgpack, status == 201 ? location :
	    NULL);
	evbuffer_free(body);
}

/* Whether a read statement found the appointment; when not, req is
 * answered: 404 when there is none (or none the caller may see), 503 when
 * the database failed. */
static int
appointment_found(struct http_request *req, const struct pg_result *res,
    enum db_outcome outcome)
{
	if (outcome != DB_DONE || PQresultStatus(res) != PGRES_TUPLES_OK)
		http_problem(req, 503, "unavailable",
		    "the database cannot take this request now");
	else if (PQntuples(res) == 0)
		http_problem(req, 404, "not-found", "no such appointment");
	else
		return 1;
	return 0;
}

/* Answer req with the appointment a read statement found: its document. */
void
appointment_answer(struct http_request *req, const struct config *conf,
    const struct pg_result *res, enum db_outcome outcome)
{
	struct db_appointment a;

	if (appointment_found(req, res, outcome)) {
		db_appointment_row(res, 0, &a);
		appointment_send(req, conf, &a, 200);
	}
}

/* Add a line of an event's description, when there is one. */
static void
event_note(struct evbuffer *b, const char *label, const char *text)
{
	if (text == NULL || text[0] == '\0')
		return;
	evbuffer_add_printf(b, "%s%s%s", evbuffer_get_length(b) > 0 ? "\n" :
	    "", label, text);
}

/* Write the VEVENT of row i of an event result (DB_SHAPE_VEVENT).  Its
 * summary is the calendar's name; in a calendar's own feed (feed set),
 * where every event is of that calendar, the name of who booked (when
 * given).  The description says who booked, how to reach them, their
 * note, and why it was cancelled. */
void
appointment_event(struct evbuffer *out, const struct pg_result *res, int i,
    int feed)
{
	struct evbuffer *desc = evbuffer_new();
	struct db_appointment a;
	struct ical_event ev;
	const char *calendar;

	db_appointment_row(res, i, &a);
	calendar = PQgetisnull(res, i, DB_COL_V_CALENDAR_NAME) ? "Appointment" :
	    PQgetvalue(res, i, DB_COL_V_CALENDAR_NAME);
	event_note(desc, "", a.name);
	event_note(desc, "", a.email);
	event_note(desc, "", a.note);
	if (a.cancelled)
		event_note(desc, "Cancelled: ", a.cancel_reason);
	evbuffer_add(desc, "", 1);
	memset(&ev, 0, sizeof(ev));
	ev.uid = PQgetvalue(res, i, DB_COL_V_UID);
	ev.sequence = strtoll(PQgetvalue(res, i, DB_COL_V_SEQUENCE), NULL, 10);
	ev.created = a.created;
	ev.changed = a.updated;
	ev.start = a.start;
	ev.end = a.end;
	ev.cancelled = a.cancelled != 0;
	ev.summary = feed && a.name != NULL && a.name[0] != '\0' ? a.name :
	    calendar;
	ev.description = (const char *)evbuffer_pullup(desc, -1);
	ical_event(out, &ev);
	evbuffer_free(desc);
}

/* Answer req with the appointment an event statement found, as a
 * VCALENDAR of its one event. */
void
appointment_answer_event(struct http_request *req,
    const struct pg_result *res, enum db_outcome outcome)
{
	struct evbuffer *body;

	if (!appointment_found(req, res, outcome))
		return;
	body = evbuffer_new();
	ical_begin(body);
	appointment_event(body, res, 0, 0);
	ical_end(body);
	http_send(req, 200, ICAL_CONTENT_TYPE, body);
	evbuffer_free(body);
}

/* Answer req with a page of a listing, {"<name>":[...],"next":cursor}:
 * the first limit rows of res, each written by item; a row beyond them
 * means that more follow, from the cursor (column cursor_col) of the
 * last one shown. */
void
appointment_page(struct http_request *req, const char *name,
    const struct pg_result *res, int limit, int cursor_col,
    void (*item)(struct emit *, const struct pg_result *, int, void *),
    void *arg)
{
	int i, n = PQntuples(res) > limit ? limit : PQntuples(res);
	int msgpack = http_wants_msgpack(req);
	struct evbuffer *body = evbuffer_new();
	struct emit *e = emit_new(body, msgpack);

	emit_map(e, 2);
	emit_key(e, name);
	emit_array(e, (size_t)n);
	for (i = 0; i < n; i++)
		item(e, res, i, arg);
	emit_end(e);
	emit_key(e, "next");
	if (PQntuples(res) > limit)
		emit_str(e, PQgetvalue(res, n - 1, cursor_col));
	else
		emit_null(e);
	emit_end(e);
	emit_free(e);
	http_send_doc(req, 200, body, msgpack, NULL);
	evbuffer_free(body);
}

static void
emit_time_or_null(struct emit *e, int64_t t)
{
	if (t == 0)
		emit_null(e);
	else
		emit_time(e, t);
}

/* The entry's document; its times in its calendar's zone. */
void
waitlist_emit(struct emit *e, const struct config *conf,
    const struct db_entry *en)
{
	size_t i;

	calendar_zone_use(conf, en->calendar_id);
	emit_map(e, 8);
	emit_key(e, "id");
	emit_str(e, en->id);
	emit_key(e, "slotId");
	emit_int(e, en->slot_ids[0]);
	emit_key(e, "slotIds");
	emit_array(e, en->nslot_ids);
	for (i = 0; i < en->nslot_ids; i++)
		emit_int(e, en->slot_ids[i]);
	emit_end(e);
	emit_key(e, "status");
	emit_str(e, en->status);
	emit_key(e, "position");
	if (en->position > 0)
		emit_int(e, en->position);
	else
		emit_null(e);
	emit_key(e, "holdId");
	emit_str_or_null(e, en->hold_id);
	emit_key(e, "offerExpiresAt");
	emit_time_or_null(e, en->offer_expires);
	emit_key(e, "createdAt");
	emit_time_or_null(e, en->created);
	emit_end(e);
}
