/*
 * tz: time zones.  Zones come from the system's IANA database through the
 * C library: tz_use() switches the process's zone only when it changes, so
 * the schedule's zone costs nothing per request.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotd.h"

static char	tz_current[128];

/* Does path begin as a compiled zone does ("TZif", RFC 8536)?  The zone
 * directory also holds text files (leapseconds, zone.tab) that the C
 * library would take for UTC. */
static int
tz_is_zone_file(const char *path)
{
	char magic[4];
	FILE *f = fopen(path, "re");
	int ok;

	if (f == NULL)
		return 0;
	ok = fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
	    memcmp(magic, "TZif", sizeof(magic)) == 0;
	fclose(f);
	return ok;
}

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
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    !tz_is_zone_file(path))
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

/* Make name the zone of localtime_r in this process. */
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

/* The offset from UTC, in seconds, of the current zone at UTC second t. */
static long
tz_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	return tm.tm_gmtoff;
}

/*
 * The UTC seconds at which the wall clock of the current zone shows that
 * minute of the local day, earliest first: none when a clock change skips
 * it, two when one repeats it.  The candidates are the offsets in effect a
 * day before and a day after (offsets are shorter than a day, and no zone
 * changes twice within two days), each kept if the wall clock shows that
 * minute at the instant it gives.  tm_isdst plays no part: some zones
 * change their offset without it.  When both are kept, the first offset
 * held until the change and the second from it, so the first is earlier.
 */
int
tz_local_to_utc(int64_t days, int minute, int64_t t[2])
{
	int64_t wall = days * SECONDS_PER_DAY + minute * 60;
	long before = tz_offset(wall - SECONDS_PER_DAY);
	long after = tz_offset(wall + SECONDS_PER_DAY);
	int n = 0;

	if (tz_offset(wall - before) == before)
		t[n++] = wall - before;
	if (after != before && tz_offset(wall - after) == after)
		t[n++] = wall - after;
	return n;
}

/* The first second of a local day: its midnight, or when a clock change
 * skips midnight, the instant of that change. */
static int64_t
tz_day_start_find(int64_t days)
{
	int64_t t[2], lo, hi, mid, wall = days * SECONDS_PER_DAY;
	long after;

	if (tz_local_to_utc(days, 0, t) > 0)
		return t[0];
	after = tz_offset(wall + SECONDS_PER_DAY);
	/* Midnight under the new offset is before the change, under the
	 * old one after it. */
	lo = wall - after;
	hi = wall - tz_offset(wall - SECONDS_PER_DAY);
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (tz_offset(mid) == after)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* tz_day_start_find, remembered for the last days asked in each zone:
 * reads ask for the same few days over and over. */
int64_t
tz_day_start(int64_t days)
{
	static struct {
		char	 zone[sizeof(tz_current)];
		int64_t	 days;
		int64_t	 start;
	} memo[16];
	size_t i = (size_t)days % 16;

	if (memo[i].days == days && memo[i].zone[0] != '\0' &&
	    strcmp(memo[i].zone, tz_current) == 0)
		return memo[i].start;
	memo[i].start = tz_day_start_find(days);
	memo[i].days = days;
	memcpy(memo[i].zone, tz_current, sizeof(tz_current));
	return memo[i].start;
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

/*
 * The wall clock at UTC second t in the current zone, and its offset in
 * seconds.  RFC 3339 writes offsets in whole minutes: the seconds of a
 * local mean time's offset (before 1970 mostly) are dropped, and the wall
 * clock follows, so that the two still name t exactly.
 */
static long
tz_local(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;
	long off;

	localtime_r(&tt, tm);
	if ((off = tm->tm_gmtoff) % 60 != 0) {
		off -= off % 60;
		tt = (time_t)(t + off);
		gmtime_r(&tt, tm);
	}
	return off;
}

/* 2026-11-24T09:00:00+08:00 in the current zone. */
size_t
tz_format_rfc3339(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	long off = tz_local(t, &tm);
	int n;

	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 3600,
	    labs(off) % 3600 / 60);
	return n < 0 ? 0 : (size_t)n;
}

void
tz_format_local(int64_t t, char date[11], char hhmm[6])
{
	struct tm tm;

	tz_local(t, &tm);
	snprintf(date, 11, "%04u-%02u-%02u",
	    (unsigned)(tm.tm_year + 1900) % 10000, (unsigned)(tm.tm_mon + 1) % 100,
	    (unsigned)tm.tm_mday % 100);
	snprintf(hhmm, 6, "%02u:%02u", (unsigned)tm.tm_hour % 100,
	    (unsigned)tm.tm_min % 100);
}
