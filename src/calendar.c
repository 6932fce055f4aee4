/*
 * calendar: a calendar's schedule and rules as the calendars API writes
 * them (API.md, "Calendars"), read from JSON into a struct and written
 * back.  The same JSON is what PostgreSQL keeps and reads to make the
 * calendar's slots (migration 0010), so what is stored is always what was
 * checked here.  A JSON merge patch (RFC 7396) of a calendar is read onto
 * the calendar it changes: a member replaces, null resets to the default,
 * and the objects schedule and rules merge member by member.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "slotd.h"

static const char *const cal_day_names[7] = { "sun", "mon", "tue", "wed",
    "thu", "fri", "sat" };

void
calendar_schedule_defaults(struct cal_schedule *s)
{
	memset(s, 0, sizeof(*s));
	s->slot_minutes = 30;
	s->capacity = 1;
	s->horizon_days = 60;
}

void
calendar_defaults(struct calendar *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->timezone, sizeof(c->timezone), "UTC");
	calendar_schedule_defaults(&c->schedule);
	c->rules.max_slots_per_appointment = 1;
}

/* ---- writing ---- */

/* The days of mask (bit n for weekday n, 0 = Sunday), Monday first, runs
 * of days as spans: "mon-thu", "mon,wed,fri", "sat-sun". */
static void
cal_days_text(char *out, size_t len, unsigned mask)
{
	size_t off = 0;
	int i, j;

	out[0] = '\0';
	for (i = 1; i <= 7; i = j) {
		for (j = i; j <= 7 && (mask & (1u << (j % 7))); j++)
			;
		if (j == i) {
			j++;
			continue;
		}
		off += (size_t)snprintf(out + off, len - off, "%s%s",
		    off > 0 ? "," : "", cal_day_names[i % 7]);
		if (j - i > 1)
			off += (size_t)snprintf(out + off, len - off, "-%s",
			    cal_day_names[(j - 1) % 7]);
	}
}

static void
cal_range_text(char out[12], const struct time_range *r)
{
	snprintf(out, 12, "%02u:%02u-%02u:%02u", (unsigned)r->start / 60 % 100,
	    (unsigned)r->start % 60, (unsigned)r->end / 60 % 100,
	    (unsigned)r->end % 60);
}

static void
cal_date_text(char out[11], int64_t day)
{
	int y, m, d;

	tz_civil_from_days(day, &y, &m, &d);
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000,
	    (unsigned)m % 100, (unsigned)d % 100);
}

void
calendar_emit_schedule(struct emit *e, const struct cal_schedule *s)
{
	char days[40], range[12], date[11], text[64];
	int i;

	emit_map(e, 8);
	emit_key(e, "hours");
	emit_array(e, (size_t)s->nhours);
	for (i = 0; i < s->nhours; i++) {
		cal_days_text(days, sizeof(days), s->hours[i].days);
		cal_range_text(range, &s->hours[i].r);
		snprintf(text, sizeof(text), "%s %s", days, range);
		emit_str(e, text);
	}
	emit_end(e);
	emit_key(e, "slotMinutes");
	emit_int(e, s->slot_minutes);
	emit_key(e, "gapMinutes");
	emit_int(e, s->gap_minutes);
	emit_key(e, "capacity");
	emit_int(e, s->capacity);
	emit_key(e, "breaks");
	emit_array(e, (size_t)s->breaks.n);
	for (i = 0; i < s->breaks.n; i++) {
		cal_range_text(range, &s->breaks.range[i]);
		emit_str(e, range);
	}
	emit_end(e);
	emit_key(e, "daysOff");
	emit_array(e, (size_t)s->ndays_off);
	for (i = 0; i < s->ndays_off; i++) {
		cal_date_text(date, s->days_off[i]);
		emit_str(e, date);
	}
	emit_end(e);
	emit_key(e, "extraHours");
	emit_array(e, (size_t)s->nextra);
	for (i = 0; i < s->nextra; i++) {
		cal_date_text(date, s->extra[i].day);
		cal_range_text(range, &s->extra[i].r);
		snprintf(text, sizeof(text), "%s %s", date, range);
		emit_str(e, text);
	}
	emit_end(e);
	emit_key(e, "horizonDays");
	emit_int(e, s->horizon_days);
	emit_end(e);
}

void
calendar_emit_rules(struct emit *e, const struct cal_rules *r)
{
	emit_map(e, 4);
	emit_key(e, "minNoticeMinutes");
	emit_int(e, r->min_notice_minutes);
	emit_key(e, "maxAdvanceDays");
	emit_int(e, r->max_advance_days);
	emit_key(e, "cancelNoticeMinutes");
	emit_int(e, r->cancel_notice_minutes);
	emit_key(e, "maxSlotsPerAppointment");
	emit_int(e, r->max_slots_per_appointment);
	emit_end(e);
}

/* A part of a calendar as JSON text (malloc'd), as PostgreSQL keeps it. */
char *
calendar_json(const struct calendar *c, int rules)
{
	struct evbuffer *b = evbuffer_new();
	struct emit *e = emit_new(b, 0);
	size_t len;
	char *s;

	if (rules)
		calendar_emit_rules(e, &c->rules);
	else
		calendar_emit_schedule(e, &c->schedule);
	emit_free(e);
	len = evbuffer_get_length(b);
	s = xcalloc(1, len + 1);
	evbuffer_remove(b, s, len);
	evbuffer_free(b);
	return s;
}

/* The calendar's document, its times in its zone; its feed token for
 * admins only; kept (unless -1) after a change of its schedule. */
void
calendar_emit(struct emit *e, const struct calendar *c, int admin, int kept)
{
	char buf[40];

	emit_map(e, 7 + (admin != 0) + (kept >= 0));
	emit_key(e, "id");
	emit_int(e, c->id);
	emit_key(e, "name");
	emit_str(e, c->name);
	emit_key(e, "timezone");
	emit_str(e, c->timezone);
	emit_key(e, "schedule");
	calendar_emit_schedule(e, &c->schedule);
	emit_key(e, "rules");
	calendar_emit_rules(e, &c->rules);
	if (admin) {
		emit_key(e, "feedToken");
		emit_str(e, c->feed_token);
	}
	tz_use(c->timezone);
	emit_key(e, "createdAt");
	emit_strn(e, buf, tz_format_rfc3339(c->created, buf, sizeof(buf)));
	emit_key(e, "updatedAt");
	emit_strn(e, buf, tz_format_rfc3339(c->updated, buf, sizeof(buf)));
	if (kept >= 0) {
		emit_key(e, "kept");
		emit_int(e, kept);
	}
	emit_end(e);
}

/* ---- reading ---- */

static int
cal_fail(struct json_error *e, const char *field, const char *why)
{
	return json_fail(e, "invalid-field", field, why);
}

static int
cal_window_item(const char *s, int i, void *arg)
{
	struct cal_window *w = (struct cal_window *)arg + i;

	return schedule_window(s, &w->days, &w->r);
}

static int
cal_break_item(const char *s, int i, void *arg)
{
	return schedule_time_range(s, &((struct time_range *)arg)[i]);
}

static int
cal_date_item(const char *s, int i, void *arg)
{
	return tz_parse_date(s, strlen(s), &((int64_t *)arg)[i]);
}

static int
cal_extra_item(const char *s, int i, void *arg)
{
	struct cal_extra *x = (struct cal_extra *)arg + i;

	return schedule_date_range(s, &x->day, &x->r);
}

/* The members of a schedule: integers in min..max, or lists of at most
 * max strings each read by item. */
static const struct cal_member {
	const char	*name;
	int64_t		 min;
	int64_t		 max;
	int		(*item)(const char *, int, void *);
	const char	*why;
} cal_schedule_members[] = {
	{ "hours", 0, SCHEDULE_MAX_WINDOWS, cal_window_item,
	    "must be days and hours like mon-thu 09:00-18:00" },
	{ "slotMinutes", 5, 1440, NULL, NULL },
	{ "gapMinutes", 0, 1440, NULL, NULL },
	{ "capacity", 1, 100000, NULL, NULL },
	{ "breaks", 0, SLOTD_MAX_BREAKS, cal_break_item,
	    "must be hours like 12:00-13:00" },
	{ "daysOff", 0, SCHEDULE_MAX_DATES, cal_date_item,
	    "must be a date like 2026-12-25" },
	{ "extraHours", 0, SCHEDULE_MAX_DATES, cal_extra_item,
	    "must be a date and hours like 2026-12-12 10:00-14:00" },
	{ "horizonDays", 1, 3660, NULL, NULL },
};
#define CAL_NMEMBERS	(sizeof(cal_schedule_members) / \
			    sizeof(cal_schedule_members[0]))

/* Where member i of s is kept: its int, or its list and count. */
static void *
cal_member_at(struct cal_schedule *s, size_t i, int **count)
{
	switch (i) {
	case 0: *count = &s->nhours; return s->hours;
	case 1: return &s->slot_minutes;
	case 2: return &s->gap_minutes;
	case 3: return &s->capacity;
	case 4: *count = &s->breaks.n; return s->breaks.range;
	case 5: *count = &s->ndays_off; return s->days_off;
	case 6: *count = &s->nextra; return s->extra;
	default: return &s->horizon_days;
	}
}

/* The strings of the array at tok into member m; -1 naming "name[i]". */
static int
cal_list(const struct json_doc *d, int tok, const struct cal_member *m,
    void *out, int *count, struct json_error *e)
{
	int items[SCHEDULE_MAX_DATES + 1], n, i, rc;
	char field[48], *str;

	if ((n = json_array_items(d, tok, items, SCHEDULE_MAX_DATES + 1)) < 0)
		return cal_fail(e, m->name, "must be an array of strings");
	if (n > m->max) {
		snprintf(field, sizeof(field), "at most %lld items",
		    (long long)m->max);
		return cal_fail(e, m->name, field);
	}
	for (i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "%s[%d]", m->name, i);
		if ((str = json_string(d, items[i])) == NULL)
			return cal_fail(e, field, "must be a string");
		rc = m->item(str, i, out);
		free(str);
		if (rc == -1)
			return cal_fail(e, field, m->why);
	}
	*count = n;
	return 0;
}

/* Read a schedule object at tok onto s: each member given replaces, null
 * resets it to the default. */
static int
cal_schedule_read(const struct json_doc *d, int tok, struct cal_schedule *s,
    struct json_error *e)
{
	struct json_field f[CAL_NMEMBERS];
	struct cal_schedule defaults;
	int toks[CAL_NMEMBERS], *count, *dcount;
	const struct cal_member *m;
	int64_t v;
	size_t i;
	void *at;
	char why[64];

	memset(f, 0, sizeof(f));
	for (i = 0; i < CAL_NMEMBERS; i++) {
		toks[i] = -1;
		f[i].name = cal_schedule_members[i].name;
		f[i].kind = JSON_FIELD_ANY;
		f[i].out = &toks[i];
	}
	if (json_object(d, tok, f, CAL_NMEMBERS, e) == -1)
		return -1;
	calendar_schedule_defaults(&defaults);
	for (i = 0; i < CAL_NMEMBERS; i++) {
		if (toks[i] == -1)
			continue;
		m = &cal_schedule_members[i];
		count = dcount = NULL;
		at = cal_member_at(s, i, &count);
		if (json_is_null(d, toks[i])) {
			if (count != NULL)
				*count = 0;
			else
				*(int *)at = *(int *)cal_member_at(&defaults, i,
				    &dcount);
		} else if (count != NULL) {
			if (cal_list(d, toks[i], m, at, count, e) == -1)
				return -1;
		} else if (json_int(d, toks[i], m->min, m->max, &v) == -1) {
			snprintf(why, sizeof(why), "must be an integer in "
			    "%lld..%lld", (long long)m->min, (long long)m->max);
			return cal_fail(e, m->name, why);
		} else
			*(int *)at = (int)v;
	}
	return 0;
}

/* The rules: integers, null resetting to the default. */
static const struct cal_member cal_rule_members[] = {
	{ "minNoticeMinutes", 0, 527040, NULL, NULL },
	{ "maxAdvanceDays", 0, 3660, NULL, NULL },
	{ "cancelNoticeMinutes", 0, 527040, NULL, NULL },
	{ "maxSlotsPerAppointment", 1, DB_MAX_RUN, NULL, NULL },
};

static int
cal_rules_read(const struct json_doc *d, int tok, struct cal_rules *r,
    struct json_error *e)
{
	int *at[4] = { &r->min_notice_minutes, &r->max_advance_days,
	    &r->cancel_notice_minutes, &r->max_slots_per_appointment };
	static const int defaults[4] = { 0, 0, 0, 1 };
	struct json_field f[4];
	int toks[4], i;
	int64_t v;
	char why[64];

	memset(f, 0, sizeof(f));
	for (i = 0; i < 4; i++) {
		toks[i] = -1;
		f[i].name = cal_rule_members[i].name;
		f[i].kind = JSON_FIELD_ANY;
		f[i].out = &toks[i];
	}
	if (json_object(d, tok, f, 4, e) == -1)
		return -1;
	for (i = 0; i < 4; i++) {
		if (toks[i] == -1)
			continue;
		if (json_is_null(d, toks[i])) {
			*at[i] = defaults[i];
			continue;
		}
		if (json_int(d, toks[i], cal_rule_members[i].min,
		    cal_rule_members[i].max, &v) == -1) {
			snprintf(why, sizeof(why), "must be an integer in "
			    "%lld..%lld", (long long)cal_rule_members[i].min,
			    (long long)cal_rule_members[i].max);
			return cal_fail(e, cal_rule_members[i].name, why);
		}
		*at[i] = (int)v;
	}
	return 0;
}

/* Checks between the schedule's members, once all are read. */
static int
cal_schedule_check(const struct cal_schedule *s, struct json_error *e)
{
	int i, j;

	for (i = 0; i < s->breaks.n; i++)
		for (j = 0; j < i; j++)
			if (s->breaks.range[i].start < s->breaks.range[j].end &&
			    s->breaks.range[j].start < s->breaks.range[i].end)
				return cal_fail(e, "schedule.breaks",
				    "breaks must not overlap");
	for (i = 0; i < s->nhours; i++)
		if (s->hours[i].r.end - s->hours[i].r.start < s->slot_minutes)
			return cal_fail(e, "schedule.hours",
			    "a window is shorter than slotMinutes");
	return 0;
}

static void
cal_prefix(struct json_error *e, const char *prefix)
{
	char field[sizeof(e->field)];

	snprintf(field, sizeof(field), "%s%.*s", prefix,
	    (int)(sizeof(field) - strlen(prefix) - 1), e->field);
	memcpy(e->field, field, sizeof(field));
}

/*
 * Read the calendar object at token obj onto c: a whole calendar (patch 0:
 * name and timezone required, the rest defaults) or a merge patch of one
 * (patch 1: what is given replaces, null resets, schedule and rules merge
 * member by member).  *rotate is set when the patch asks for a new feed
 * token.  -1 with e naming the member ("schedule.hours[1]") when one is
 * wrong.
 */
int
calendar_read(const struct json_doc *d, int obj, struct calendar *c,
    int patch, int *rotate, struct json_error *e)
{
	char *name = NULL, *zone = NULL, *token = NULL;
	int sched = -1, rules = -1, rc = -1;
	struct json_field f[] = {
		{ "name", JSON_FIELD_STRING, 1, 200, &name, NULL, 0, NULL,
		    rules_single_line, "must be one line of text" },
		{ "timezone", JSON_FIELD_STRING, 1, 127, &zone, NULL, 0, NULL,
		    tz_valid_name, "must be an IANA time zone" },
		{ "schedule", JSON_FIELD_ANY, 0, 0, &sched, NULL, 0, NULL, NULL,
		    NULL },
		{ "rules", JSON_FIELD_ANY, 0, 0, &rules, NULL, 0, NULL, NULL,
		    NULL },
		{ "feedToken", JSON_FIELD_STRING, 1, 64, &token, NULL, 0, NULL,
		    NULL, NULL },
	};

	*rotate = 0;
	if (json_object(d, obj, f, patch ? 5 : 4, e) == -1)
		goto out;
	if (!patch && (name == NULL || zone == NULL)) {
		cal_fail(e, name == NULL ? "name" : "timezone", "required");
		goto out;
	}
	if (token != NULL && strcmp(token, "rotate") != 0) {
		cal_fail(e, "feedToken", "only \"rotate\" may be given");
		goto out;
	}
	*rotate = token != NULL;
	if (name != NULL)
		snprintf(c->name, sizeof(c->name), "%s", name);
	if (zone != NULL)
		snprintf(c->timezone, sizeof(c->timezone), "%s", zone);
	if (sched != -1 && json_is_null(d, sched))
		calendar_schedule_defaults(&c->schedule);
	else if (sched != -1 && cal_schedule_read(d, sched, &c->schedule,
	    e) == -1) {
		cal_prefix(e, "schedule.");
		goto out;
	}
	if (rules != -1 && json_is_null(d, rules)) {
		memset(&c->rules, 0, sizeof(c->rules));
		c->rules.max_slots_per_appointment = 1;
	} else if (rules != -1 && cal_rules_read(d, rules, &c->rules,
	    e) == -1) {
		cal_prefix(e, "rules.");
		goto out;
	}
	rc = cal_schedule_check(&c->schedule, e);
out:
	free(name);
	free(zone);
	free(token);
	return rc;
}

/* The schedule and rules PostgreSQL keeps (as calendar_json wrote them)
 * onto c. */
int
calendar_read_stored(struct calendar *c, const char *schedule,
    const char *rules, struct json_error *e)
{
	struct json_doc *doc;
	char err[128];
	int rc;

	if ((doc = json_parse(schedule, strlen(schedule), err,
	    sizeof(err))) == NULL)
		return cal_fail(e, "schedule", err);
	rc = cal_schedule_read(doc, 0, &c->schedule, e);
	json_free(doc);
	if (rc == -1)
		return -1;
	if ((doc = json_parse(rules, strlen(rules), err, sizeof(err))) == NULL)
		return cal_fail(e, "rules", err);
	rc = cal_rules_read(doc, 0, &c->rules, e);
	json_free(doc);
	return rc;
}
