/*
 * tz_calendar: the proleptic Gregorian calendar as day numbers since
 * 1970-01-01, and the dates and RFC 3339 times that requests carry.
 * Nothing here depends on a time zone.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "slotd.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
int64_t
tz_days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
tz_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* qsort/bsearch order of int64_t day numbers. */
int
tz_cmp_days(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The day that holds second t of a clock that counts from 1970-01-01
 * 00:00: the UTC day of a UTC second, the local day of a wall clock's. */
int64_t
tz_day_of(int64_t t)
{
	return t >= 0 ? t / SECONDS_PER_DAY :
	    -((-t - 1) / SECONDS_PER_DAY) - 1;
}

int
tz_weekday(int64_t days)
{
	return (int)(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6);
}

int
tz_days_in_month(int y, int m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* Exactly n decimal digits at s, into *v. */
static int
tz_digits(const char *s, int n, int *v)
{
	int i;

	for (*v = i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* YYYY-MM-DD at the start of s naming a real date of the years 0000..9999:
 * its year and days since 1970-01-01. */
static int
tz_date(const char *s, int *y, int64_t *days)
{
	int m, d;

	if (tz_digits(s, 4, y) == -1 || s[4] != '-' ||
	    tz_digits(s + 5, 2, &m) == -1 || s[7] != '-' ||
	    tz_digits(s + 8, 2, &d) == -1 || m < 1 || m > 12 || d < 1 ||
	    d > tz_days_in_month(*y, m))
		return -1;
	*days = tz_days_from_civil(*y, m, d);
	return 0;
}

/* Exactly YYYY-MM-DD naming a real date (years 0001..9999). */
int
tz_parse_date(const char *s, size_t len, int64_t *days)
{
	int y;

	if (len != 10 || tz_date(s, &y, days) == -1 || y < 1)
		return -1;
	return 0;
}

/*
 * An RFC 3339 date-time (a fraction of a second and an offset or Z) as UTC
 * seconds; -1 with *why when it is not one, or one that a slot cannot
 * have: a fraction other than zero, a leap second, or an instant within a
 * day of the ends of the years 0001..9999 (shown with any zone's offset,
 * less than a day, it must keep a year of four digits).
 */
int
tz_parse_rfc3339(const char *s, int64_t *out, const char **why)
{
	int64_t day, t;
	int y, h, m, sec, oh, om, off;
	size_t frac = 0;
	const char *p = s + 19;

	*why = "must be an RFC 3339 time with offset, like "
	    "2026-11-24T09:00:00+08:00";
	if (tz_date(s, &y, &day) == -1 || (s[10] != 'T' && s[10] != 't') ||
	    tz_digits(s + 11, 2, &h) == -1 || s[13] != ':' ||
	    tz_digits(s + 14, 2, &m) == -1 || s[16] != ':' ||
	    tz_digits(s + 17, 2, &sec) == -1 || h > 23 || m > 59 || sec > 60)
		return -1;
	if (*p == '.') {
		if ((frac = strspn(p + 1, "0123456789")) == 0)
			return -1;
		p += 1 + frac;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		off = 0;
	else if ((*p == '+' || *p == '-') && tz_digits(p + 1, 2, &oh) == 0 &&
	    p[3] == ':' && tz_digits(p + 4, 2, &om) == 0 && p[6] == '\0' &&
	    oh <= 23 && om <= 59)
		off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	else
		return -1;
	if (frac > 0 && strspn(s + 20, "0") != frac) {
		*why = "must be a whole second: slots start and end on whole "
		    "seconds";
		return -1;
	}
	if (sec == 60) {
		*why = "must not be a leap second (second 60): POSIX time, "
		    "which slotd keeps, has none";
		return -1;
	}
	t = day * SECONDS_PER_DAY + h * 3600 + m * 60 + sec - off;
	if (t < tz_days_from_civil(1, 1, 2) * SECONDS_PER_DAY ||
	    t > tz_days_from_civil(9999, 12, 31) * SECONDS_PER_DAY) {
		*why = "must be from 0001-01-02T00:00:00Z to "
		    "9999-12-31T00:00:00Z: a day's margin inside the years "
		    "0001..9999 keeps it a four-digit year in every time zone";
		return -1;
	}
	*out = t;
	return 0;
}

/* 2026-11-24T01:00:00Z: second t in UTC, whatever zone is current. */
size_t
tz_format_utc(int64_t t, char *buf, size_t len)
{
	int64_t day = tz_day_of(t);
	int y, m, d, sec = (int)(t - day * SECONDS_PER_DAY), n;

	tz_civil_from_days(day, &y, &m, &d);
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
	    sec / 3600, sec / 60 % 60, sec % 60);
	return n < 0 ? 0 : (size_t)n;
}
