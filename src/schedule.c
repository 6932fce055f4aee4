/*
 * schedule: the slots that the [schedule] section asks for on a given day,
 * in the schedule's time zone (the caller has made it current with tz_use).
 */
#include <stdlib.h>

#include "slotd.h"

int
schedule_is_open_day(const struct config *c, int64_t day)
{
	if ((c->days & (1u << tz_weekday(day))) == 0)
		return 0;
	return c->ndays_off == 0 || bsearch(&day, c->days_off,
	    (size_t)c->ndays_off, sizeof(*c->days_off), tz_cmp_days) == NULL;
}

static int
in_break(const struct config *c, int start, int end)
{
	int i;

	for (i = 0; i < c->nbreaks; i++)
		if (start < c->breaks[i].end && c->breaks[i].start < end)
			return 1;
	return 0;
}

/* Fill out with the day's slots in order; returns how many there are.
 * A slot whose wall-clock start a clock change skips does not exist; an end
 * in the gap is the instant the gap ends. */
size_t
schedule_day(const struct config *c, int64_t day, struct slot_span *out,
    size_t max)
{
	int minute, s_ok;
	size_t n = 0;
	int64_t s, e;

	if (!schedule_is_open_day(c, day))
		return 0;
	for (minute = c->hours.start; minute + c->slot_minutes <= c->hours.end;
	    minute += c->slot_minutes) {
		if (in_break(c, minute, minute + c->slot_minutes))
			continue;
		s = tz_local_to_utc(day, minute, &s_ok);
		if (minute + c->slot_minutes == 24 * 60)
			e = tz_day_start(day + 1);
		else
			e = tz_local_to_utc(day, minute + c->slot_minutes,
			    NULL);
		if (!s_ok || e <= s)
			continue;
		if (n < max) {
			out[n].start = s;
			out[n].end = e;
		}
		n++;
	}
	return n;
}
