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
	return c->days_off.n == 0 || bsearch(&day, c->days_off.day,
	    (size_t)c->days_off.n, sizeof(*c->days_off.day),
	    tz_cmp_days) == NULL;
}

static int
in_break(const struct config *c, int start, int end)
{
	int i;

	for (i = 0; i < c->breaks.n; i++)
		if (start < c->breaks.range[i].end &&
		    c->breaks.range[i].start < end)
			return 1;
	return 0;
}

/*
 * The day's slots into out in start order; how many, at most max (a day
 * with more says so in the log; SCHEDULE_DAY_MAX holds any day).  Slots
 * start at the wall-clock times of the window's grid: none at a time that
 * a clock change skips, one at each occurrence of a time that it repeats.
 * Each lasts slot_minutes of real time, and one that would overlap the
 * slot before it (an odd length around a clock change) is not made.
 */
size_t
schedule_day(const struct config *c, int64_t day, struct slot_span *out,
    size_t max)
{
	int64_t t[2], len = (int64_t)c->slot_minutes * 60;
	size_t n = 0, lost = 0, i, kept;
	int minute, found, k, y, m, d;

	if (!schedule_is_open_day(c, day))
		return 0;
	for (minute = c->hours.start; minute + c->slot_minutes <= c->hours.end;
	    minute += c->slot_minutes) {
		if (in_break(c, minute, minute + c->slot_minutes))
			continue;
		found = tz_local_to_utc(day, minute, t);
		for (k = 0; k < found; k++) {
			if (n == max) {
				lost++;
				continue;
			}
			/* A repeated hour starts before the previous starts. */
			for (i = n; i > 0 && out[i - 1].start > t[k]; i--)
				out[i] = out[i - 1];
			out[i].start = t[k];
			out[i].end = t[k] + len;
			n++;
		}
	}
	if (lost > 0) {
		tz_civil_from_days(day, &y, &m, &d);
		log_warnx("%s: %04d-%02d-%02d has %zu slots more than the %zu "
		    "kept", __func__, y, m, d, lost, max);
	}
	for (i = kept = 0; i < n; i++)
		if (kept == 0 || out[i].start >= out[kept - 1].end)
			out[kept++] = out[i];
	return kept;
}
