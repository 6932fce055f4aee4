/*
 * Unit tests of schedule generation and the calendar helpers, including
 * days on which the clocks change.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "slotd.h"

static struct config
demo(const char *zone)
{
	struct config c;

	memset(&c, 0, sizeof(c));
	c.timezone = (char *)zone;
	c.days = 0x3e;
	c.hours.start = 9 * 60;
	c.hours.end = 18 * 60;
	c.slot_minutes = 30;
	c.breaks.range[0].start = 12 * 60;
	c.breaks.range[0].end = 13 * 60;
	c.breaks.n = 1;
	cr_assert_eq(tz_use(zone), 0);
	return c;
}

Test(tz, civil_round_trip_and_weekday)
{
	int64_t d;
	int y, m, dd;

	cr_assert_eq(tz_days_from_civil(1970, 1, 1), 0);
	cr_assert_eq(tz_weekday(0), 4);				/* Thursday */
	cr_assert_eq(tz_weekday(tz_days_from_civil(2026, 11, 24)), 2);
	for (d = -1000; d < 100000; d += 37) {
		tz_civil_from_days(d, &y, &m, &dd);
		cr_assert_eq(tz_days_from_civil(y, m, dd), d);
	}
}

Test(tz, strict_dates)
{
	int64_t d;

	cr_assert_eq(tz_parse_date("2026-11-24", 10, &d), 0);
	cr_assert_eq(d, tz_days_from_civil(2026, 11, 24));
	cr_assert_eq(tz_parse_date("2028-02-29", 10, &d), 0);
	cr_assert_eq(tz_parse_date("2026-02-29", 10, &d), -1);
	cr_assert_eq(tz_parse_date("2026-02-30", 10, &d), -1);
	cr_assert_eq(tz_parse_date("2026-1-5", 8, &d), -1);
	cr_assert_eq(tz_parse_date("20261105", 8, &d), -1);
	cr_assert_eq(tz_parse_date("2026-13-01", 10, &d), -1);
	cr_assert_eq(tz_parse_date("2026-00-10", 10, &d), -1);
	cr_assert_eq(tz_parse_date("2026-11-00", 10, &d), -1);
	cr_assert_eq(tz_parse_date("2026-11-2x", 10, &d), -1);
	cr_assert_eq(tz_parse_date("+026-11-24", 10, &d), -1);
	cr_assert_eq(tz_parse_date("1969-12-31", 10, &d), 0);
	cr_assert_eq(d, -1);
	cr_assert_eq(tz_parse_date("0001-01-01", 10, &d), 0);
	cr_assert_eq(d, tz_days_from_civil(1, 1, 1));
	cr_assert_eq(tz_parse_date("9999-12-31", 10, &d), 0);
	cr_assert_eq(tz_parse_date("0000-12-31", 10, &d), -1);
}

Test(schedule, weekday_with_lunch_break)
{
	struct config c = demo("Asia/Singapore");
	struct slot_span s[64];
	int64_t day = tz_days_from_civil(2026, 11, 24);
	char buf[40];
	size_t n = schedule_day(&c, day, s, 64);

	cr_assert_eq(n, 16);		/* 18 half hours less the lunch hour */
	tz_format_rfc3339(s[0].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-24T09:00:00+08:00");
	tz_format_rfc3339(s[5].end, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-24T12:00:00+08:00");
	tz_format_rfc3339(s[6].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-24T13:00:00+08:00");
	tz_format_rfc3339(s[15].end, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2026-11-24T18:00:00+08:00");
}

Test(schedule, closed_on_weekends_and_days_off)
{
	struct config c = demo("UTC");
	int64_t off = tz_days_from_civil(2026, 12, 25);
	struct slot_span s[64];

	c.days_off.day = &off;
	c.days_off.n = 1;
	cr_assert_eq(schedule_day(&c, tz_days_from_civil(2026, 11, 28), s,
	    64), 0);						/* Saturday */
	cr_assert_eq(schedule_day(&c, off, s, 64), 0);
	cr_assert_eq(schedule_day(&c, off - 1, s, 64), 16);
}

/* Europe/Berlin: 2027-03-28 02:00 jumps to 03:00; 2027-10-31 03:00
 * falls back to 02:00. */
Test(schedule, clock_changes)
{
	struct config c = demo("Europe/Berlin");
	struct slot_span s[64];
	char buf[40];
	size_t n;

	c.days = 0x7f;
	c.hours.start = 0;
	c.hours.end = 6 * 60;
	c.breaks.n = 0;
	c.slot_minutes = 60;
	/* Spring: the 02:00-03:00 slot does not exist. */
	n = schedule_day(&c, tz_days_from_civil(2027, 3, 28), s, 64);
	cr_assert_eq(n, 5);
	tz_format_rfc3339(s[2].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2027-03-28T03:00:00+02:00");
	cr_assert_eq(s[1].end - s[1].start, 3600);
	/* Autumn: 02:00 happens twice and starts a slot each time. */
	n = schedule_day(&c, tz_days_from_civil(2027, 10, 31), s, 64);
	cr_assert_eq(n, 7);
	tz_format_rfc3339(s[0].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2027-10-31T00:00:00+02:00");
	tz_format_rfc3339(s[2].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2027-10-31T02:00:00+02:00");
	tz_format_rfc3339(s[3].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2027-10-31T02:00:00+01:00");
	tz_format_rfc3339(s[5].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2027-10-31T04:00:00+01:00");
	cr_assert_eq(s[2].end - s[2].start, 3600);
	/* Working hours on DST days keep their wall-clock times. */
	c = demo("Europe/Berlin");
	n = schedule_day(&c, tz_days_from_civil(2027, 3, 29), s, 64);
	cr_assert_eq(n, 16);
	tz_format_rfc3339(s[0].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2027-03-29T09:00:00+02:00");
	n = schedule_day(&c, tz_days_from_civil(2027, 3, 26), s, 64);
	tz_format_rfc3339(s[0].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, "2027-03-26T09:00:00+01:00");
}

/* A day of slots from..to (minutes) each minutes long in zone. */
static size_t
whole_day(const char *zone, int y, int m, int d, int from, int to,
    int minutes, struct slot_span *s, size_t max)
{
	struct config c = demo(zone);

	c.days = 0x7f;
	c.hours.start = from;
	c.hours.end = to;
	c.slot_minutes = minutes;
	c.breaks.n = 0;
	return schedule_day(&c, tz_days_from_civil(y, m, d), s, max);
}

/* Slot i starts at the RFC 3339 time want; every slot lasts its minutes,
 * and with contiguous set each starts where the one before ends. */
static void
check_slots(const struct slot_span *s, size_t n, int minutes, int contiguous)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cr_assert_eq(s[i].end - s[i].start, minutes * 60, "slot %zu", i);
		if (i > 0 && contiguous)
			cr_assert_eq(s[i].start, s[i - 1].end, "slot %zu", i);
		if (i > 0)
			cr_assert_geq(s[i].start, s[i - 1].end, "slot %zu", i);
	}
}

static void
starts_at(const struct slot_span *s, size_t i, const char *want)
{
	char buf[40];

	tz_format_rfc3339(s[i].start, buf, sizeof(buf));
	cr_assert_str_eq(buf, want, "slot %zu", i);
}

/*
 * The next clock changes of two zones that change at odd times: America/
 * Santiago at midnight (2027-04-03 24:00 -03 back to 23:00 -04; 2027-09-05
 * 00:00 -04 on to 01:00 -03) and Australia/Lord_Howe by half an hour
 * (2027-04-04 02:00 +11 back to 01:30 +10:30; 2027-10-03 02:00 +10:30 on to
 * 02:30 +11).  Expectations from Python's zoneinfo, fold 0 and 1.
 */
Test(schedule, repeated_time_makes_a_slot_each_time)
{
	struct slot_span s[SCHEDULE_DAY_MAX];
	size_t n;

	n = whole_day("America/Santiago", 2027, 4, 3, 0, 24 * 60, 60, s, 64);
	cr_assert_eq(n, 25);
	check_slots(s, n, 60, 1);
	starts_at(s, 0, "2027-04-03T00:00:00-03:00");
	starts_at(s, 23, "2027-04-03T23:00:00-03:00");
	starts_at(s, 24, "2027-04-03T23:00:00-04:00");
	cr_assert_eq(s[24].end, tz_day_start(tz_days_from_civil(2027, 4, 4)));
	n = whole_day("America/Santiago", 2027, 4, 4, 0, 24 * 60, 60, s, 64);
	cr_assert_eq(n, 24);
	check_slots(s, n, 60, 1);
	starts_at(s, 0, "2027-04-04T00:00:00-04:00");

	n = whole_day("Australia/Lord_Howe", 2027, 4, 4, 0, 24 * 60, 30, s,
	    64);
	cr_assert_eq(n, 49);
	check_slots(s, n, 30, 1);
	starts_at(s, 3, "2027-04-04T01:30:00+11:00");
	starts_at(s, 4, "2027-04-04T01:30:00+10:30");
	starts_at(s, 5, "2027-04-04T02:00:00+10:30");
	starts_at(s, 48, "2027-04-04T23:30:00+10:30");
}

Test(schedule, skipped_time_makes_no_slot)
{
	struct slot_span s[SCHEDULE_DAY_MAX];
	size_t n;

	n = whole_day("America/Santiago", 2027, 9, 5, 0, 24 * 60, 60, s, 64);
	cr_assert_eq(n, 23);
	check_slots(s, n, 60, 1);
	starts_at(s, 0, "2027-09-05T01:00:00-03:00");
	cr_assert_eq(s[0].start, tz_day_start(tz_days_from_civil(2027, 9, 5)));
	starts_at(s, 22, "2027-09-05T23:00:00-03:00");

	n = whole_day("Australia/Lord_Howe", 2027, 10, 3, 0, 24 * 60, 30, s,
	    64);
	cr_assert_eq(n, 47);
	check_slots(s, n, 30, 1);
	starts_at(s, 3, "2027-10-03T01:30:00+10:30");
	starts_at(s, 4, "2027-10-03T02:30:00+11:00");
}

/* 45-minute slots: the second 01:30 would overlap the first one. */
Test(schedule, no_slot_overlaps_the_one_before)
{
	struct slot_span s[SCHEDULE_DAY_MAX];
	size_t n;

	n = whole_day("Australia/Lord_Howe", 2027, 4, 4, 0, 3 * 60, 45, s, 64);
	cr_assert_eq(n, 4);
	check_slots(s, n, 45, 0);
	starts_at(s, 0, "2027-04-04T00:00:00+11:00");
	starts_at(s, 1, "2027-04-04T00:45:00+11:00");
	starts_at(s, 2, "2027-04-04T01:30:00+11:00");
	starts_at(s, 3, "2027-04-04T02:15:00+10:30");
}

/* Antarctica/Troll falls back two hours: the longest day there is. */
Test(schedule, the_longest_day_fits)
{
	struct slot_span s[SCHEDULE_DAY_MAX];
	size_t n;

	n = whole_day("Antarctica/Troll", 2027, 10, 31, 0, 24 * 60, 5, s,
	    SCHEDULE_DAY_MAX);
	cr_assert_eq(n, 312);
	cr_assert_eq(n, SCHEDULE_DAY_MAX);
	check_slots(s, n, 5, 1);
	n = whole_day("Antarctica/Troll", 2027, 10, 31, 0, 24 * 60, 5, s, 10);
	cr_assert_eq(n, 10);
	check_slots(s, n, 5, 1);
}

/* Europe/Volgograd went from +04 to +03 on 2020-12-27 at 02:00, standard
 * time both, so tm_isdst says nothing; Pacific/Apia skipped 2011-12-30. */
Test(tz, offset_changes_without_dst)
{
	int64_t t[2];
	char buf[40];

	cr_assert_eq(tz_use("Europe/Volgograd"), 0);
	cr_assert_eq(tz_local_to_utc(tz_days_from_civil(2020, 12, 27), 90, t),
	    2);
	tz_format_rfc3339(t[0], buf, sizeof(buf));
	cr_assert_str_eq(buf, "2020-12-27T01:30:00+04:00");
	tz_format_rfc3339(t[1], buf, sizeof(buf));
	cr_assert_str_eq(buf, "2020-12-27T01:30:00+03:00");
	cr_assert_eq(tz_local_to_utc(tz_days_from_civil(2020, 12, 27), 120, t),
	    1);
	cr_assert_eq(tz_use("Pacific/Apia"), 0);
	cr_assert_eq(tz_local_to_utc(tz_days_from_civil(2011, 12, 30), 720, t),
	    0);
	cr_assert_eq(tz_day_start(tz_days_from_civil(2011, 12, 30)),
	    tz_day_start(tz_days_from_civil(2011, 12, 31)));
	tz_format_rfc3339(tz_day_start(tz_days_from_civil(2011, 12, 31)), buf,
	    sizeof(buf));
	cr_assert_str_eq(buf, "2011-12-31T00:00:00+14:00");
}

Test(tz, day_boundaries)
{
	cr_assert_eq(tz_use("America/New_York"), 0);
	/* 2026-11-01 has 25 hours in New York. */
	cr_assert_eq(tz_day_start(tz_days_from_civil(2026, 11, 2)) -
	    tz_day_start(tz_days_from_civil(2026, 11, 1)), 25 * 3600);
	cr_assert_eq(tz_use("Australia/Lord_Howe"), 0);
	cr_assert_eq(tz_day_start(tz_days_from_civil(2027, 4, 5)) -
	    tz_day_start(tz_days_from_civil(2027, 4, 4)), 24 * 3600 + 1800);
	cr_assert_eq(tz_use("Nope/Nowhere"), -1);
	cr_assert_eq(tz_valid_name("../etc"), 0);
}

/* Zones that count leap seconds would shift every day's start. */
Test(tz, right_and_posix_zones_refused)
{
	const char *why = NULL;

	cr_assert_eq(tz_check_name("Europe/Berlin", &why), 0);
	cr_assert_eq(tz_check_name("right/UTC", &why), -1);
	cr_assert(strstr(why, "not supported") != NULL, "%s", why);
	cr_assert_eq(tz_check_name("posix/Europe/Berlin", &why), -1);
	cr_assert(strstr(why, "not supported") != NULL, "%s", why);
	cr_assert_eq(tz_check_name("right/Nowhere", &why), -1);
	cr_assert_str_eq(why, "must be a known IANA time zone");
	cr_assert_eq(tz_use("right/UTC"), -1);
}

/* Every time kept must show a year 0001..9999 in every zone. */
Test(tz, rfc3339_within_the_years_shown)
{
	const char *why = NULL;
	int64_t t;

	cr_assert_eq(tz_parse_rfc3339("9999-12-31T00:00:00Z", &t, &why), 0);
	cr_assert_eq(t, tz_days_from_civil(9999, 12, 31) * SECONDS_PER_DAY);
	cr_assert_eq(tz_parse_rfc3339("9999-12-31T00:00:01Z", &t, &why), -1);
	cr_assert(strstr(why, "0001-01-02T00:00:00Z to 9999-12-31T00:00:00Z")
	    != NULL, "%s", why);
	cr_assert_eq(tz_parse_rfc3339("9999-12-31T22:00:00-05:00", &t, &why),
	    -1);
	cr_assert_eq(tz_parse_rfc3339("9999-12-31T23:59:00+23:59", &t, &why),
	    0);
	cr_assert_eq(tz_parse_rfc3339("2026-11-24T09:00", &t, &why), -1);
	cr_assert(strstr(why, "RFC 3339") != NULL, "%s", why);
}

/* Any RFC 3339 time of whole seconds, before 1970 too. */
Test(tz, rfc3339_fractions_and_old_times)
{
	const char *why = NULL;
	int64_t t, u;

	cr_assert_eq(tz_parse_rfc3339("2026-11-24T01:00:00Z", &u, &why), 0);
	cr_assert_eq(tz_parse_rfc3339("2026-11-24T01:00:00.000Z", &t, &why),
	    0);
	cr_assert_eq(t, u);
	cr_assert_eq(tz_parse_rfc3339("2026-11-24t09:00:00.000000000+08:00",
	    &t, &why), 0);
	cr_assert_eq(t, u);
	cr_assert_eq(tz_parse_rfc3339("2026-11-24T01:00:00.0z", &t, &why), 0);
	cr_assert_eq(t, u);
	cr_assert_eq(tz_parse_rfc3339("2026-11-24T01:00:00.001Z", &t, &why),
	    -1);
	cr_assert_str_eq(why, "must be a whole second: slots start and end on "
	    "whole seconds");
	cr_assert_eq(tz_parse_rfc3339("2016-12-31T23:59:60Z", &t, &why), -1);
	cr_assert(strstr(why, "leap second") != NULL, "%s", why);
	cr_assert_eq(tz_parse_rfc3339("1969-07-20T20:17:40Z", &t, &why), 0);
	cr_assert_eq(t, -14182940);
	cr_assert_eq(tz_parse_rfc3339("0001-01-02T00:00:00Z", &t, &why), 0);
	cr_assert_eq(t, tz_days_from_civil(1, 1, 2) * SECONDS_PER_DAY);
	cr_assert_eq(tz_parse_rfc3339("0001-01-02T00:00:00+00:01", &t, &why),
	    -1);
	cr_assert(strstr(why, "0001-01-02T00:00:00Z to") != NULL, "%s", why);
	cr_assert_eq(tz_parse_rfc3339("0000-12-31T12:00:00Z", &t, &why), -1);
	cr_assert(strstr(why, "0001-01-02T00:00:00Z to") != NULL, "%s", why);
	cr_assert_eq(tz_parse_rfc3339("2026-11-24T01:00:00.Z", &t, &why), -1);
	cr_assert(strstr(why, "RFC 3339") != NULL, "%s", why);
	cr_assert_eq(tz_parse_rfc3339("2026-11-24T01:00:00+24:00", &t, &why),
	    -1);
	cr_assert_eq(tz_parse_rfc3339("2026-11-24T01:00:00Z ", &t, &why), -1);
	cr_assert_eq(tz_parse_rfc3339("2026-02-29T01:00:00Z", &t, &why), -1);
}

/* Local mean time has offsets with seconds, which RFC 3339 cannot write:
 * the offset loses its seconds and the wall clock follows. */
Test(tz, offsets_written_in_whole_minutes)
{
	char buf[40], date[11], hhmm[6];

	cr_assert_eq(tz_use("Asia/Singapore"), 0);		/* +6:55:25 */
	tz_format_rfc3339(tz_days_from_civil(1900, 1, 1) * SECONDS_PER_DAY,
	    buf, sizeof(buf));
	cr_assert_str_eq(buf, "1900-01-01T06:55:00+06:55");
	tz_format_local(tz_days_from_civil(1900, 1, 1) * SECONDS_PER_DAY,
	    date, hhmm);
	cr_assert_str_eq(date, "1900-01-01");
	cr_assert_str_eq(hhmm, "06:55");
	cr_assert_eq(tz_use("Africa/Monrovia"), 0);		/* -0:44:30 */
	tz_format_rfc3339(tz_days_from_civil(1971, 1, 1) * SECONDS_PER_DAY,
	    buf, sizeof(buf));
	cr_assert_str_eq(buf, "1970-12-31T23:16:00-00:44");
	cr_assert_eq(tz_use("America/Los_Angeles"), 0);	/* -7:52:58 */
	tz_format_rfc3339(tz_days_from_civil(1, 1, 2) * SECONDS_PER_DAY,
	    buf, sizeof(buf));
	cr_assert_str_eq(buf, "0001-01-01T16:08:00-07:52");
}
