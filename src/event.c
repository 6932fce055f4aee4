/*
 * event: the event document (API.md, "Events and webhooks"), as GET
 * /events lists it and the courier delivers it:
 *
 *	{"id":"1042","type":"appointment.booked",
 *	 "timestamp":"2026-11-24T01:00:01Z","data":{appointment document}}
 *
 * written from a row of the outbox (migration 0012), whose columns are
 * the appointment's as it stood after the change, then the event's; a
 * waitlist event's data is its entry, whose slots, status and creation
 * stand in the appointment's columns.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "slotd.h"

/* The event of row i of res (DB_SHAPE_EVENT, or a courier's delivery,
 * which begins with the same columns). */
void
event_emit(struct emit *e, const struct config *conf, const PGresult *res,
    int i)
{
	const char *type = PQgetvalue(res, i, DB_COL_E_TYPE);
	struct db_appointment a;
	struct db_entry en;
	char at[32];

	db_appointment_row(res, i, &a);
	emit_map(e, 4);
	emit_key(e, "id");
	emit_str(e, PQgetvalue(res, i, DB_COL_E_ID));
	emit_key(e, "type");
	emit_str(e, type);
	emit_key(e, "timestamp");
	emit_strn(e, at, tz_format_utc(strtoll(PQgetvalue(res, i,
	    DB_COL_E_AT), NULL, 10), at, sizeof(at)));
	emit_key(e, "data");
	if (strncmp(type, "waitlist.", 9) == 0) {
		memset(&en, 0, sizeof(en));
		en.id = PQgetvalue(res, i, DB_COL_E_ENTRY);
		memcpy(en.slot_ids, a.slot_ids, sizeof(en.slot_ids));
		en.nslot_ids = a.nslot_ids;
		en.status = a.status;
		en.hold_id = PQgetisnull(res, i, DB_COL_E_HOLD) ? NULL :
		    PQgetvalue(res, i, DB_COL_E_HOLD);
		en.offer_expires = strtoll(PQgetvalue(res, i,
		    DB_COL_E_OFFER_EXPIRES), NULL, 10);
		en.created = a.created;
		en.calendar_id = a.calendar_id;
		waitlist_emit(e, conf, &en);
	} else {
		calendar_zone_use(conf, a.calendar_id);
		appointment_emit(e, &a);
	}
	emit_end(e);
}
