/*
 * appointment: the appointment document (API.md, "Appointments"), as the
 * booking, reading, listing, moving and cancelling routes answer it.  Its
 * times are in the schedule's zone ([schedule] timezone).
 */
#include <stdio.h>

#include <event2/buffer.h>

#include "slotd.h"

static void
emit_time(struct emit *e, int64_t t)
{
	char buf[40];

	emit_strn(e, buf, tz_format_rfc3339(t, buf, sizeof(buf)));
}

/* The document of a; cancelledAt and cancelReason once it is cancelled.
 * The caller has made the zone current (tz_use). */
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

/* Answer req with a's document (201 with its Location when created). */
void
appointment_send(struct http_request *req, const struct config *conf,
    const struct db_appointment *a, int status)
{
	struct evbuffer *body = evbuffer_new();
	int msgpack = http_wants_msgpack(req);
	struct emit *e = emit_new(body, msgpack);
	char location[64];

	tz_use(conf->timezone);
	appointment_emit(e, a);
	emit_free(e);
	snprintf(location, sizeof(location), "/appointments/%lld",
	    (long long)a->id);
	http_send_doc(req, status, body, msgpack, status == 201 ? location :
	    NULL);
	evbuffer_free(body);
}
