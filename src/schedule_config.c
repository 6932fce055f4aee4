/*
 * schedule_config: the values of the [schedule] section (open weekdays,
 * opening hours, breaks, days off) and the rules between them.  A value is
 * put together from small pieces (a day or a span of days, a clock time, a
 * time range, a date), each of which reads one item of len bytes.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slotd.h"

static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu",
    "fri", "sat" };

/* "mon" into 1 (0 = Sunday); -1 for anything else. */
static int
day_index(const char *s, size_t len)
{
	int i;

	if (len != 3)
		return -1;
	for (i = 0; i < 7; i++)
		if (strncasecmp(s, day_names[i], 3) == 0)
			return i;
	return -1;
}

/* A day ("wed") or a span of days ("mon-fri", which may wrap: "sat-sun")
 * added to the bits of *days. */
static int
day_span(const char *s, size_t len, unsigned *days)
{
	const char *dash = memchr(s, '-', len);
	int a, b;

	if (dash == NULL) {
		if ((a = day_index(s, len)) == -1)
			return -1;
		*days |= 1u << a;
		return 0;
	}
	a = day_index(s, (size_t)(dash - s));
	b = day_index(dash + 1, len - (size_t)(dash - s) - 1);
	if (a == -1 || b == -1)
		return -1;
	for (;;) {
		*days |= 1u << a;
		if (a == b)
			break;
		a = (a + 1) % 7;
	}
	return 0;
}

/* HH:MM into minutes; 24:00 is allowed as an end. */
static int
parse_clock(const char *s, size_t len, int *minutes)
{
	int h, m;

	if (len != 5 || s[2] != ':' || !isdigit((unsigned char)s[0]) ||
	    !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	*minutes = h * 60 + m;
	return 0;
}

/* HH:MM-HH:MM, the end after the start. */
static int
parse_range(const char *s, size_t len, struct time_range *r)
{
	if (len != 11 || s[5] != '-' || parse_clock(s, 5, &r->start) == -1 ||
	    parse_clock(s + 6, 5, &r->end) == -1 || r->end <= r->start)
		return -1;
	return 0;
}

static int
day_item(const char *s, size_t len, void *arg)
{
	return day_span(s, len, arg);
}

static int
range_item(const char *s, size_t len, void *arg)
{
	struct time_ranges *l = arg;

	if (l->n == SLOTD_MAX_BREAKS ||
	    parse_range(s, len, &l->range[l->n]) == -1)
		return -1;
	l->n++;
	return 0;
}

static int
date_item(const char *s, size_t len, void *arg)
{
	struct date_list *l = arg;
	int64_t day;

	if (tz_parse_date(s, len, &day) == -1)
		return -1;
	l->day = xreallocarray(l->day, (size_t)l->n + 1, sizeof(*l->day));
	l->day[l->n++] = day;
	return 0;
}

/* Items of the calendars API (calendar.c): each -1 when it is not one. */

/* "mon-thu 09:00-18:00", "mon,wed 09:00-12:00": days and a time range. */
int
schedule_window(const char *s, unsigned *days, struct time_range *r)
{
	const char *space = strrchr(s, ' ');
	char list[64];
	size_t n;

	if (space == NULL || (n = (size_t)(space - s)) >= sizeof(list))
		return -1;
	memcpy(list, s, n);
	list[n] = '\0';
	*days = 0;
	if (config_value_each(list, day_item, days) == -1 || *days == 0)
		return -1;
	return parse_range(space + 1, strlen(space + 1), r);
}

/* "12:00-13:00" */
int
schedule_time_range(const char *s, struct time_range *r)
{
	return parse_range(s, strlen(s), r);
}

/* "2026-12-12 10:00-14:00": a date and a time range. */
int
schedule_date_range(const char *s, int64_t *day, struct time_range *r)
{
	if (strlen(s) != 22 || s[10] != ' ' ||
	    tz_parse_date(s, 10, day) == -1)
		return -1;
	return parse_range(s + 11, 11, r);
}

/* Each value below: -1 with err set ("'v' is not ...") when v is none. */

/* Weekdays: "mon-fri", "mon,wed,fri", "sat-sun"; at least one. */
int
schedule_config_days(const char *v, unsigned *days, char *err,
    size_t errlen)
{
	unsigned set = 0;

	if (config_value_each(v, day_item, &set) == -1 || set == 0)
		return config_value_fail(err, errlen, "'%s' is not a list of "
		    "days like mon-fri or mon,wed,fri", v);
	*days = set;
	return 0;
}

/* Opening hours: "09:00-18:00" (on the days of the days key), or weekly
 * windows "mon-thu 09:00-18:00, fri 09:00-13:00"; days listed alone
 * belong to the window after them ("mon, wed 09:00-12:00"). */
struct windows_state {
	struct schedule_windows	*l;
	unsigned		 pending;	/* days waiting for hours */
};

static int
window_item(const char *s, size_t len, void *arg)
{
	struct windows_state *st = arg;
	struct cal_window *w;
	const char *space = memchr(s, ' ', len);
	size_t n;

	if (st->l->n == SCHEDULE_MAX_WINDOWS)
		return -1;
	w = &st->l->w[st->l->n];
	if (len == 11 && parse_range(s, len, &w->r) == 0) {
		if (st->pending != 0)
			return -1;
		w->days = 0;
		st->l->n++;
		return 0;
	}
	if (space == NULL)		/* days of the next window */
		return day_span(s, len, &st->pending);
	n = (size_t)(space - s);
	if (day_span(s, n, &st->pending) == -1)
		return -1;
	while (n < len && s[n] == ' ')
		n++;
	if (parse_range(s + n, len - n, &w->r) == -1)
		return -1;
	w->days = st->pending;
	st->pending = 0;
	st->l->n++;
	return 0;
}

int
schedule_config_windows(const char *v, struct schedule_windows *l,
    char *err, size_t errlen)
{
	struct windows_state st = { l, 0 };

	memset(l, 0, sizeof(*l));
	if (config_value_each(v, window_item, &st) == -1 || l->n == 0 ||
	    st.pending != 0)
		return config_value_fail(err, errlen, "'%s' is not opening "
		    "hours like 09:00-18:00 or mon-thu 09:00-18:00, fri "
		    "09:00-13:00 (at most %d windows)", v,
		    SCHEDULE_MAX_WINDOWS);
	return 0;
}

static int
extra_item(const char *s, size_t len, void *arg)
{
	struct schedule_extras *l = arg;
	char item[32];

	if (l->n == SCHEDULE_MAX_DATES || len >= sizeof(item))
		return -1;
	memcpy(item, s, len);
	item[len] = '\0';
	if (schedule_date_range(item, &l->x[l->n].day, &l->x[l->n].r) == -1)
		return -1;
	l->n++;
	return 0;
}

/* Windows on single dates: "2026-12-12 10:00-14:00, ..."; or none. */
int
schedule_config_extras(const char *v, struct schedule_extras *l, char *err,
    size_t errlen)
{
	memset(l, 0, sizeof(*l));
	if (*v != '\0' && config_value_each(v, extra_item, l) == -1)
		return config_value_fail(err, errlen, "'%s' is not a list of "
		    "dates and hours like 2026-12-12 10:00-14:00", v);
	return 0;
}

/* Up to SLOTD_MAX_BREAKS ranges, "12:00-13:00, 15:00-15:20"; or none. */
int
schedule_config_ranges(const char *v, struct time_ranges *l, char *err,
    size_t errlen)
{
	memset(l, 0, sizeof(*l));
	if (*v != '\0' && config_value_each(v, range_item, l) == -1)
		return config_value_fail(err, errlen, "'%s' is not a list of "
		    "at most %d ranges like 12:00-13:00", v, SLOTD_MAX_BREAKS);
	return 0;
}

/* Dates, "2026-12-25, 2027-01-01", kept sorted; or none. */
int
schedule_config_dates(const char *v, struct date_list *l, char *err,
    size_t errlen)
{
	free(l->day);
	l->day = NULL;
	l->n = 0;
	if (*v != '\0' && config_value_each(v, date_item, l) == -1)
		return config_value_fail(err, errlen, "'%s' is not a list of "
		    "dates like 2026-12-25", v);
	if (l->n > 1)
		qsort(l->day, (size_t)l->n, sizeof(*l->day), tz_cmp_days);
	return 0;
}

/* Without a gap, slot_minutes divides each window into whole slots; with
 * one, each window holds a slot. */
static int
check_slot_grid(const struct config *c, char *err, size_t errlen)
{
	const struct schedule_windows *l = &c->hours;
	int i, open;

	for (i = 0; i < l->n; i++) {
		open = l->w[i].r.end - l->w[i].r.start;
		if (c->gap_minutes == 0 && open % c->slot_minutes != 0)
			return config_value_fail(err, errlen, "[schedule] "
			    "slot_minutes: %d does not divide the %d open "
			    "minutes of hours", c->slot_minutes, open);
		if (open < c->slot_minutes)
			return config_value_fail(err, errlen, "[schedule] "
			    "slot_minutes: %d is longer than the %d open "
			    "minutes of hours", c->slot_minutes, open);
	}
	return 0;
}

/* Every break lies inside a window of the opening hours, and no two
 * overlap. */
static int
check_breaks(const struct config *c, char *err, size_t errlen)
{
	const struct time_range *b = c->breaks.range;
	const struct schedule_windows *l = &c->hours;
	int i, j, inside;

	for (i = 0; i < c->breaks.n; i++) {
		for (j = inside = 0; j < l->n; j++)
			inside |= b[i].start >= l->w[j].r.start &&
			    b[i].end <= l->w[j].r.end;
		if (!inside)
			return config_value_fail(err, errlen, "[schedule] "
			    "breaks: break %d lies outside hours", i + 1);
		for (j = 0; j < i; j++)
			if (b[i].start < b[j].end && b[j].start < b[i].end)
				return config_value_fail(err, errlen,
				    "[schedule] breaks: breaks %d and %d "
				    "overlap", j + 1, i + 1);
	}
	return 0;
}

/* The rules between the keys of [schedule]: -1 with err set ("[schedule]
 * key: why") when one is broken. */
int
schedule_config_check(const struct config *c, char *err, size_t errlen)
{
	if (check_slot_grid(c, err, errlen) == -1 ||
	    check_breaks(c, err, errlen) == -1)
		return -1;
	if (c->days_off.n > SCHEDULE_MAX_DATES)
		return config_value_fail(err, errlen, "[schedule] days_off: "
		    "at most %d dates", SCHEDULE_MAX_DATES);
	return 0;
}
