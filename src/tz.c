/*
 * tz: calendar arithmetic and time zones.  Zones come from the system's
 * IANA database through the C library: tz_use() switches the process's zone
 * only when it changes, so the schedule's zone costs nothing per request.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotd.h"

static char	tz_current[128];

/*
 * An IANA name: letters, digits, '_', '-', '+', '/', no "..", and a file in
 * the zone database; -1 with *why when it is not one.  The right/ variants
 * count leap seconds, which POSIX time has not, so that their days would
 * not start at midnight; posix/ ones are refused alike.  The last name
 * found is remembered: a request's zone is checked with its query, then
 * again when it is put to use.
 */
int
tz_check_name(const char *name, const char **why)
{
	static char known[sizeof(tz_current)];
	const char *dir = getenv("TZDIR"), *p;
	char path[PATH_MAX];
	struct stat st;
	size_t len = strlen(name);

	if (len > 0 && strcmp(name, known) == 0)
		return 0;
	*why = "must be a known IANA time zone";
	if (len == 0 || len >= sizeof(tz_current) || name[0] == '/' ||
	    strstr(name, "..") != NULL)
		return -1;
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '+' || *p == '/'))
			return -1;
	}
	if (dir == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return -1;
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return -1;
	if (strncmp(name, "right/", 6) == 0 ||
	    strncmp(name, "posix/", 6) == 0) {
		*why = "the right/ and posix/ variants of zones are not "
		    "supported: use the plain name";
		return -1;
	}
	memcpy(known, name, len + 1);
	return 0;
}

int
tz_valid_name(const char *name)
{
	const char *why;

	return tz_check_name(name, &why) == 0;
}

/* Make name the zone of localtime_r/mktime in this process. */
int
tz_use(const char *name)
{
	if (strcmp(tz_current, name) == 0)
		return 0;
	if (!tz_valid_name(name))
		return -1;
	if (setenv("TZ", name, 1) == -1)
		return -1;
	tzset();
	snprintf(tz_current, sizeof(tz_current), "%s", name);
	return 0;
}

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

int
tz_weekday(int64_t days)
{
	return (int)(days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6);
}

static int
days_in_month(int y, int m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* Exactly YYYY-MM-DD naming a real date (years 1970..9999). */
int
tz_parse_date(const char *s, size_t len, int64_t *days)
{
	int y, m, d;
	size_t i;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < len; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	*days = tz_days_from_civil(y, m, d);
	return 0;
}

/* UTC seconds of a wall-clock time in the current zone; *exists is 0 when
 * that time is skipped by a clock change. */
int64_t
tz_local_to_utc(int64_t days, int minute, int *exists)
{
	struct tm tm, back;
	time_t t;
	int y, m, d;

	tz_civil_from_days(days, &y, &m, &d);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = minute / 60;
	tm.tm_min = minute % 60;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (exists != NULL) {
		localtime_r(&t, &back);
		*exists = back.tm_year == y - 1900 && back.tm_mon == m - 1 &&
		    back.tm_mday == d && back.tm_hour == minute / 60 &&
		    back.tm_min == minute % 60;
	}
	return (int64_t)t;
}

/* The first second of a local day (midnight may be skipped by DST). */
int64_t
tz_day_start(int64_t days)
{
	int exists;
	int64_t t = tz_local_to_utc(days, 0, &exists);
	struct tm tm;
	time_t tt;
	int minute;

	if (exists)
		return t;
	for (minute = 1; minute < 24 * 60; minute++) {
		t = tz_local_to_utc(days, minute, &exists);
		if (exists) {
			tt = (time_t)t;
			localtime_r(&tt, &tm);
			return t - tm.tm_sec;
		}
	}
	return t;
}

/* The local day that contains UTC second now. */
int64_t
tz_today(int64_t now)
{
	time_t t = (time_t)now;
	struct tm tm;

	localtime_r(&t, &tm);
	return tz_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1,
	    tm.tm_mday);
}

/* 2026-11-24T09:00:00+08:00 in the current zone. */
size_t
tz_format_rfc3339(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	long off;
	int n;

	localtime_r(&tt, &tm);
	off = tm.tm_gmtoff;
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 3600,
	    labs(off) % 3600 / 60);
	return n < 0 ? 0 : (size_t)n;
}

void
tz_format_local(int64_t t, char date[11], char hhmm[6])
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	snprintf(date, 11, "%04u-%02u-%02u",
	    (unsigned)(tm.tm_year + 1900) % 10000, (unsigned)(tm.tm_mon + 1) % 100,
	    (unsigned)tm.tm_mday % 100);
	snprintf(hhmm, 6, "%02u:%02u", (unsigned)tm.tm_hour % 100,
	    (unsigned)tm.tm_min % 100);
}

/*
 * RFC 3339 date-time with an offset or Z, whole seconds: UTC seconds; -1
 * with *why when it is not one, or when it is within a day of the ends of
 * the years 0001..9999: shown with any zone's offset (less than a day), it
 * must still have a year of four digits.
 */
int
tz_parse_rfc3339(const char *s, int64_t *out, const char **why)
{
	int64_t day, t;
	int h, m, sec, oh, om, sign;
	size_t len = strlen(s);

	*why = "must be an RFC 3339 time with offset";
	if (len < 20 || tz_parse_date(s, 10, &day) == -1 ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -1;
	if (sscanf(s + 11, "%2d", &h) != 1 || sscanf(s + 14, "%2d", &m) != 1 ||
	    sscanf(s + 17, "%2d", &sec) != 1 || strspn(s + 11, "0123456789:")
	    < 8 || h > 23 || m > 59 || sec > 59)
		return -1;
	if (len == 20 && (s[19] == 'Z' || s[19] == 'z')) {
		oh = om = 0;
		sign = 1;
	} else if (len == 25 && (s[19] == '+' || s[19] == '-') &&
	    s[22] == ':' && strspn(s + 20, "0123456789") == 2 &&
	    strspn(s + 23, "0123456789") == 2) {
		sign = s[19] == '-' ? -1 : 1;
		oh = (s[20] - '0') * 10 + (s[21] - '0');
		om = (s[23] - '0') * 10 + (s[24] - '0');
		if (oh > 23 || om > 59)
			return -1;
	} else
		return -1;
	t = day * SECONDS_PER_DAY + h * 3600 + m * 60 + sec -
	    sign * (oh * 3600 + om * 60);
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
