/*
 * route: the route table.  Each route is a method set and a path pattern
 * (a literal path, or one with an {id} segment, maybe followed by a
 * literal: "/appointments/{id}/cancel") with its handler; the
 * Allow header of a 405 is what the routes of that path take together.
 */
#include <string.h>

#include "slotd.h"

#define GET_HEAD	(HTTP_METHOD_GET | HTTP_METHOD_HEAD)

static const struct route routes[] = {
	{ "/slots", GET_HEAD, ROUTE_SLOTS, ACCESS_READ, route_slots_list },
	{ "/slots", HTTP_METHOD_POST, ROUTE_SLOTS_ADMIN, ACCESS_ADMIN,
	    route_slots_create },
	{ "/slots/stream", GET_HEAD, ROUTE_SLOTS_STREAM, ACCESS_READ,
	    route_slots_stream },
	{ "/slots/{id}", GET_HEAD, ROUTE_SLOT, ACCESS_READ, route_slot_get },
	{ "/slots/{id}", HTTP_METHOD_PATCH, ROUTE_SLOTS_ADMIN, ACCESS_ADMIN,
	    route_slot_patch },
	{ "/slots/{id}", HTTP_METHOD_DELETE, ROUTE_SLOTS_ADMIN, ACCESS_ADMIN,
	    route_slot_delete },
	{ "/calendars", GET_HEAD, ROUTE_CALENDARS, ACCESS_READ,
	    route_calendars_list },
	{ "/calendars", HTTP_METHOD_POST, ROUTE_CALENDARS_ADMIN, ACCESS_ADMIN,
	    route_calendars_create },
	{ "/calendars/{id}", GET_HEAD, ROUTE_CALENDARS, ACCESS_READ,
	    route_calendar_get },
	{ "/calendars/{id}", HTTP_METHOD_PATCH, ROUTE_CALENDARS_ADMIN,
	    ACCESS_ADMIN, route_calendar_patch },
	{ "/calendars/{id}", HTTP_METHOD_DELETE, ROUTE_CALENDARS_ADMIN,
	    ACCESS_ADMIN, route_calendar_delete },
	{ "/calendars/{id}/appointments.ics", GET_HEAD, ROUTE_CALENDARS,
	    ACCESS_FEED, route_calendar_feed },
	{ "/appointments", HTTP_METHOD_POST, ROUTE_APPOINTMENTS, ACCESS_USER,
	    route_appointments_create },
	{ "/appointments", GET_HEAD, ROUTE_APPOINTMENTS, ACCESS_USER,
	    route_appointments_list },
	{ "/appointments/{id}", GET_HEAD | HTTP_METHOD_DELETE,
	    ROUTE_APPOINTMENT, ACCESS_USER, route_appointment },
	{ "/appointments/{id}/reschedule", HTTP_METHOD_POST,
	    ROUTE_APPOINTMENT, ACCESS_USER, route_appointment_reschedule },
	{ "/appointments/{id}/cancel", HTTP_METHOD_POST, ROUTE_APPOINTMENT,
	    ACCESS_USER, route_appointment_cancel },
	{ "/holds", HTTP_METHOD_POST, ROUTE_HOLDS, ACCESS_USER,
	    route_holds_create },
	{ "/holds/{id}", HTTP_METHOD_DELETE, ROUTE_HOLD, ACCESS_USER,
	    route_hold_release },
	{ "/waitlist", HTTP_METHOD_POST, ROUTE_WAITLIST, ACCESS_USER,
	    route_waitlist_join },
	{ "/waitlist/{id}", GET_HEAD | HTTP_METHOD_DELETE, ROUTE_WAITLIST,
	    ACCESS_USER, route_waitlist_entry },
	{ "/events", GET_HEAD, ROUTE_EVENTS, ACCESS_ADMIN, route_events_list },
	{ "/webhooks", HTTP_METHOD_POST, ROUTE_WEBHOOKS, ACCESS_ADMIN,
	    route_webhooks_create },
	{ "/webhooks", GET_HEAD, ROUTE_WEBHOOKS, ACCESS_ADMIN,
	    route_webhooks_list },
	{ "/webhooks/{id}", GET_HEAD | HTTP_METHOD_DELETE, ROUTE_WEBHOOKS,
	    ACCESS_ADMIN, route_webhook },
	{ "/webhooks/{id}", HTTP_METHOD_PATCH, ROUTE_WEBHOOKS, ACCESS_ADMIN,
	    route_webhook_patch },
	{ "/webhooks/{id}/deliveries", GET_HEAD, ROUTE_WEBHOOKS, ACCESS_ADMIN,
	    route_webhook_deliveries },
	{ "/healthz", GET_HEAD, ROUTE_HEALTHZ, ACCESS_OPEN, route_healthz },
	{ "/readyz", GET_HEAD, ROUTE_READYZ, ACCESS_OPEN, route_readyz },
	{ "/metrics", GET_HEAD, ROUTE_METRICS, ACCESS_OPEN, route_metrics },
};

/* Does path fit pattern?  Its {id} segment (non-empty, no '/') is copied
 * into id, with what follows it in the pattern ("/cancel") matched too. */
static int
route_match(const char *pattern, const char *path, char id[ROUTE_ID_MAX])
{
	const char *brace = strchr(pattern, '{'), *rest;
	size_t n = brace != NULL ? (size_t)(brace - pattern) : strlen(pattern);
	size_t len;

	id[0] = '\0';
	if (strncmp(pattern, path, n) != 0)
		return 0;
	if (brace == NULL)
		return path[n] == '\0';
	len = strcspn(path + n, "/");
	rest = strchr(brace, '}') + 1;
	if (len == 0 || len >= ROUTE_ID_MAX || strcmp(path + n + len, rest))
		return 0;
	memcpy(id, path + n, len);
	id[len] = '\0';
	return 1;
}

/* The route that takes method on path, or NULL; *allowed is what the
 * routes of that path take together (0: no route has that path).  A
 * literal path hides the {id} patterns it would also fit:
 * /slots/stream is not the slot "stream". */
const struct route *
route_find(const char *path, int method, char id[ROUTE_ID_MAX],
    int *allowed)
{
	const struct route *found = NULL;
	char seg[ROUTE_ID_MAX];
	size_t i;
	int literal;

	*allowed = 0;
	id[0] = '\0';
	for (literal = 1; literal >= 0 && *allowed == 0; literal--) {
		for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
			if ((strchr(routes[i].pattern, '{') == NULL) !=
			    literal ||
			    !route_match(routes[i].pattern, path, seg))
				continue;
			*allowed |= routes[i].methods;
			if (found == NULL && (routes[i].methods & method)) {
				found = &routes[i];
				memcpy(id, seg, sizeof(seg));
			}
		}
	}
	return found;
}
