/*
 * generate: the syncer's making of every calendar's slots (migration
 * 0010).  PostgreSQL makes them, set-based, from each calendar's schedule
 * in its own zone (slotd_apply_calendar); the syncer only says when and
 * which.  After each load it mirrors the configuration's [schedule] into
 * calendar 1, asks which calendars are due (a changed schedule, or a
 * horizon that a new local day moved), and applies them one statement
 * each, so that no transaction holds more than one calendar.  It asks
 * again when a calendar changes (a notification on slotd_calendars), when
 * a local day begins in a calendar's zone, and every GENERATE_EVERY
 * seconds.
 * Days are the syncer's: its clock says what today is.
 * Several instances may do this at once: the function takes turns.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <libpq-fe.h>

#include "slotd.h"

#define GENERATE_EVERY	60	/* seconds between looks for due calendars */

/* Ask PostgreSQL to make calendar 1 the configuration's [schedule] (NULL
 * values when the configuration has none). */
int
generate_send_mirror(struct generation *g, PGconn *conn,
    const struct config *c)
{
	const char *values[3] = { NULL, NULL, NULL };
	char *schedule = NULL, *rules = NULL;
	int ok;

	(void)g;
	if (c->schedule_given) {
		calendar_config_json(c, &schedule, &rules);
		values[0] = c->timezone;
		values[1] = schedule;
		values[2] = rules;
	}
	ok = PQsendQueryParams(conn, "SELECT slotd_mirror_config($1, "
	    "$2::jsonb, $3::jsonb)", 3, NULL, values, NULL, NULL, 0);
	free(schedule);
	free(rules);
	return ok ? 0 : -1;
}

/* Ask for every calendar, and which are due; each is written into the
 * directory of calendars.  (A failed question answers none: the next
 * look asks again.) */
int
generate_send_due(struct generation *g, PGconn *conn)
{
	char now[24];
	const char *values[1] = { now };

	g->wanted = 0;
	g->looked_at = time(NULL);
	snprintf(now, sizeof(now), "%lld", (long long)g->looked_at);
	return PQsendQueryParams(conn, "SELECT id, timezone, deleted, due, "
	    "floor(extract(epoch FROM next_day))::bigint FROM "
	    "slotd_calendars_due(to_timestamp($1))", 1, NULL, values, NULL,
	    NULL, 0) ? 0 : -1;
}

void
generate_due_result(struct generation *g, PGresult *res)
{
	static struct log_limit full;
	int i, n = res != NULL ? PQntuples(res) : 0;
	int64_t id;

	free(g->due);
	g->due = xcalloc((size_t)n + 1, sizeof(*g->due));
	g->ndue = 0;
	g->next = 0;
	g->next_day = 0;
	for (i = 0; i < n; i++) {
		if (PQgetisnull(res, i, 0)) {
			if (!PQgetisnull(res, i, 4))
				g->next_day = strtoll(PQgetvalue(res, i, 4),
				    NULL, 10);
			continue;
		}
		id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (caldir_put(id, PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2)[0] == 't') == -1)
			log_warnx_limited(&full, "%s: no room for calendar "
			    "%lld in the directory of calendars", __func__,
			    (long long)id);
		if (PQgetvalue(res, i, 3)[0] == 't')
			g->due[g->ndue++] = id;
	}
	if (res != NULL)
		caldir_set_loaded();
}

/* Apply the next due calendar: 1 when sent, 0 when none is left, -1 when
 * the statement could not be sent. */
int
generate_send_next(struct generation *g, PGconn *conn)
{
	char id[24], now[24];
	const char *values[2] = { id, now };

	if (g->next >= g->ndue)
		return 0;
	snprintf(id, sizeof(id), "%lld", (long long)g->due[g->next++]);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	return PQsendQueryParams(conn, "SELECT * FROM slotd_apply_calendar($1, "
	    "to_timestamp($2))", 2, NULL, values, NULL, NULL, 0) ? 1 : -1;
}

/* One calendar applied: say what changed that a user would want to know
 * (slots kept because somebody holds a seat in them, above all). */
void
generate_applied(struct generation *g, PGresult *res)
{
	int64_t cal = g->due[g->next - 1];

	if (PQntuples(res) != 1 || PQnfields(res) != 4)
		return;
	if (strcmp(PQgetvalue(res, 0, 2), "0") != 0)
		log_warnx("calendar %lld: %s future slots no longer fit the "
		    "schedule but keep their bookings or holds", (long long)cal,
		    PQgetvalue(res, 0, 2));
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0 ||
	    strcmp(PQgetvalue(res, 0, 1), "0") != 0 ||
	    strcmp(PQgetvalue(res, 0, 3), "0") != 0)
		log_info("calendar %lld: %s slots made, %s removed, %s resized",
		    (long long)cal, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		    PQgetvalue(res, 0, 3));
}

/* A calendar failed to apply: look again in a while. */
void
generate_failed(struct generation *g)
{
	log_warnx("calendar %lld: its schedule could not be applied; "
	    "retrying in %d s", (long long)g->due[g->next - 1],
	    GENERATE_EVERY);
}

/* Whether to look for due calendars now: a calendar changed, a local
 * day began somewhere, or it is a while since the last look. */
int
generate_time(const struct generation *g)
{
	time_t now = time(NULL);

	return g->wanted || now >= g->looked_at + GENERATE_EVERY ||
	    (g->next_day != 0 && now >= g->next_day);
}

void
generate_clear(struct generation *g)
{
	free(g->due);
	memset(g, 0, sizeof(*g));
}
