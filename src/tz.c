/*
 * tz: time zones.  A zone is read from the system's IANA database
 * (tzfile.c) the first time a process names it, and kept: tz_use() then
 * only selects it, so that reads in different zones, one after the other,
 * cost no system call.  Until tz_use(), times are UTC.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

#define TZ_NAME_MAX	128		/* a name's bytes, with its NUL */
#define TZ_KEPT_MAX	1024		/* the database names about 600 */

/* A zone read and kept under the name it was asked by. */
struct tz_zone {
	struct tzfile	*file;
	unsigned	 id;		/* 1, 2...: never given twice */
	char		 name[];
};

/*
 * The zones kept, in the order of their names.  Past TZ_KEPT_MAX (names
 * asked for, all valid, beyond all the database holds) a zone is not kept
 * but read each time it is checked, and tz_use() holds it in the spare
 * place, where the next such zone replaces it: answers stay right and
 * memory bounded, only those zones cost their reads again.
 */
static struct tz_zone	*tz_kept[TZ_KEPT_MAX];
static size_t		 tz_nkept;
static struct tz_zone	*tz_spare;
static struct tz_zone	*tz_cur;	/* tz_use's zone; NULL: UTC */
static unsigned		 tz_ids;

/* The zone called name when it is kept (or spare), else NULL and where in
 * tz_kept it would go. */
static struct tz_zone *
tz_find(const char *name, size_t *pos)
{
	size_t lo = 0, hi = tz_nkept, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(name, tz_kept[mid]->name)) == 0)
			return tz_kept[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	if (tz_spare != NULL && strcmp(name, tz_spare->name) == 0)
		return tz_spare;
	return NULL;
}

/*
 * The zone file of an IANA name: letters, digits, '_', '-', '+', '/', no
 * "..", and a compiled zone in the database; NULL with *why when it is not
 * one.  The right/ variants count leap seconds, which POSIX time has not,
 * so that their days would not start at midnight; posix/ ones are refused
 * alike.
 */
static struct tzfile *
tz_read(const char *name, const char **why)
{
	const char *dir = getenv("TZDIR"), *p;
	char path[PATH_MAX];
	struct tzfile *f;
	size_t len = strlen(name);

	*why = "must be a known IANA time zone";
	if (len == 0 || len >= TZ_NAME_MAX || name[0] == '/' ||
	    strstr(name, "..") != NULL)
		return NULL;
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '+' || *p == '/'))
			return NULL;
	}
	if (dir == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return NULL;
	if ((f = tzfile_read(path)) == NULL)
		return NULL;
	if (strncmp(name, "right/", 6) == 0 ||
	    strncmp(name, "posix/", 6) == 0) {
		tzfile_free(f);
		*why = "the right/ and posix/ variants of zones are not "
		    "supported: use the plain name";
		return NULL;
	}
	return f;
}

static struct tz_zone *
tz_zone_new(const char *name, struct tzfile *f)
{
	size_t len = strlen(name);
	struct tz_zone *z = xcalloc(1, sizeof(*z) + len + 1);

	z->file = f;
	z->id = ++tz_ids;
	memcpy(z->name, name, len + 1);
	return z;
}

/* Keep zone file f as name at pos of tz_kept; NULL when it is full. */
static struct tz_zone *
tz_keep(const char *name, struct tzfile *f, size_t pos)
{
	static int told;

	if (tz_nkept == TZ_KEPT_MAX) {
		if (!told++)
			log_warnx("%s: %d zones kept: others are read again "
			    "each time they are used", __func__, TZ_KEPT_MAX);
		return NULL;
	}
	memmove(&tz_kept[pos + 1], &tz_kept[pos],
	    (tz_nkept - pos) * sizeof(tz_kept[0]));
	tz_nkept++;
	return tz_kept[pos] = tz_zone_new(name, f);
}

/* Is name a zone that can be used?  -1 with *why when not.  A zone found
 * is kept: a request's zone is checked with its query, then put to use. */
int
tz_check_name(const char *name, const char **why)
{
	struct tzfile *f;
	size_t pos;

	if (tz_find(name, &pos) != NULL)
		return 0;
	if ((f = tz_read(name, why)) == NULL)
		return -1;
	if (tz_keep(name, f, pos) == NULL)
		tzfile_free(f);
	return 0;
}

int
tz_valid_name(const char *name)
{
	const char *why;

	return tz_check_name(name, &why) == 0;
}

/* Make name the zone of the tz_ functions below. */
int
tz_use(const char *name)
{
	struct tz_zone *z;
	struct tzfile *f;
	const char *why;
	size_t pos;

	if (tz_cur != NULL && strcmp(tz_cur->name, name) == 0)
		return 0;
	if ((z = tz_find(name, &pos)) == NULL) {
		if ((f = tz_read(name, &why)) == NULL)
			return -1;
		if ((z = tz_keep(name, f, pos)) == NULL) {
			if (tz_spare != NULL) {
				tzfile_free(tz_spare->file);
				free(tz_spare);
			}
			z = tz_spare = tz_zone_new(name, f);
		}
	}
	tz_cur = z;
	return 0;
}

/* The offset from UTC, in seconds, of the current zone at UTC second t. */
static long
tz_offset(int64_t t)
{
	return tz_cur != NULL ? tzfile_offset(tz_cur->file, t) : 0;
}

/*
 * The UTC seconds at which the wall clock of the current zone shows that
 * minute of the local day, earliest first: none when a clock change skips
 * it, two when one repeats it.  The candidates are the offsets in effect a
 * day before and a day after (offsets are shorter than a day, and no zone
 * changes twice within two days), each kept if the wall clock shows that
 * minute at the instant it gives.  Daylight saving flags play no part:
 * some zones change their offset without them.  When both are kept, the
 * first offset held until the change and the second from it, so the
 * first is earlier.
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
 * reads ask for the same few days over and over, in a few zones.  A zone
 * is told by its id, which a spare zone read again does not share, and
 * spreads its days over the memo apart from the other zones'. */
int64_t
tz_day_start(int64_t days)
{
	static struct {
		unsigned zone;
		int64_t	 days;
		int64_t	 start;
	} memo[64];
	unsigned zone = tz_cur != NULL ? tz_cur->id : 0;
	size_t i = ((size_t)days + (size_t)zone * 7) % 64;

	if (memo[i].days == days && memo[i].zone != 0 && memo[i].zone == zone)
		return memo[i].start;
	memo[i].start = tz_day_start_find(days);
	memo[i].days = days;
	memo[i].zone = zone;
	return memo[i].start;
}

/* A wall clock's reading. */
struct tz_wall {
	int	y, m, d;
	int	sec;			/* of the day */
};

/*
 * The wall clock at UTC second t in the current zone, and its offset in
 * seconds.  RFC 3339 writes offsets in whole minutes: the seconds of a
 * local mean time's offset (before 1970 mostly) are dropped, and the wall
 * clock follows, so that the two still name t exactly.
 */
static long
tz_local(int64_t t, struct tz_wall *w)
{
	long off = tz_offset(t);
	int64_t day;

	off -= off % 60;
	day = tz_day_of(t + off);
	tz_civil_from_days(day, &w->y, &w->m, &w->d);
	w->sec = (int)(t + off - day * SECONDS_PER_DAY);
	return off;
}

/* 2026-11-24T09:00:00+08:00 in the current zone. */
size_t
tz_format_rfc3339(int64_t t, char *buf, size_t len)
{
	struct tz_wall w;
	long off = tz_local(t, &w);
	int n;

	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
	    w.y, w.m, w.d, w.sec / 3600, w.sec / 60 % 60, w.sec % 60,
	    off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
	return n < 0 ? 0 : (size_t)n;
}

void
tz_format_local(int64_t t, char date[11], char hhmm[6])
{
	struct tz_wall w;

	tz_local(t, &w);
	snprintf(date, 11, "%04u-%02u-%02u", (unsigned)w.y % 10000,
	    (unsigned)w.m % 100, (unsigned)w.d % 100);
	snprintf(hhmm, 6, "%02u:%02u", (unsigned)w.sec / 3600 % 100,
	    (unsigned)w.sec / 60 % 60);
}
