/*
 * Unit tests of the time zone and calendar helpers, including days on
 * which the clocks change.  (The slots a schedule makes are PostgreSQL's:
 * see tests/integration/test_calendars.py.)
 */
#include <criterion/criterion.h>
#include <string.h>

#include "slotd.h"

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
