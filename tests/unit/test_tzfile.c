/*
 * Unit tests of the zone reader (tzfile.c) and of the zones tz.c keeps:
 * every zone of the system's database against the C library's
 * localtime_r from 1900 to 2100, around each of its changes and in the
 * years 2400 and 9999 (the footer's rule); POSIX TZ strings against the C
 * library and against times worked out by hand; TZif files of each version
 * made here, and broken ones; day starts kept per zone, and more zones
 * than tz.c keeps.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slotd.h"

#define ZONEINFO	"/usr/share/zoneinfo"

/* The C library's offset at t, under the TZ it was last given. */

/* A zone that had to be read: there, and given back. */
static void
parsed(struct tzfile *z)
{
	cr_assert_not_null(z);
	tzfile_free(z);
}

static long
libc_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		cr_assert_fail("localtime_r(%lld)", (long long)t);
	return tm.tm_gmtoff;
}

/* What tz_format_rfc3339 wrote when it stood on localtime_r: the
 * seconds of an offset dropped, the wall clock following. */
static void
libc_rfc3339(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	long off;

	localtime_r(&tt, &tm);
	/* The offset is less than a day: two digits of hours. */
	if ((off = tm.tm_gmtoff % SECONDS_PER_DAY) % 60 != 0) {
		off -= off % 60;
		tt = (time_t)(t + off);
		gmtime_r(&tt, &tm);
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 3600,
	    labs(off) % 3600 / 60);
}

struct compare {
	const char		*zone;
	const struct tzfile	*z;
	int			 formats;	/* tz_use(zone) holds */
};

/* Zone z and the C library agree at t, and so does tz_format_rfc3339.
 * (Criterion's assertions cost more than the two lookups: they are kept
 * for a difference.) */
static void
agree_at(struct compare *c, int64_t t, int format)
{
	char want[48], got[48];
	long mine = tzfile_offset(c->z, t), libc = libc_offset(t);

	if (mine != libc)
		cr_assert_fail("%s at %lld: %ld, the C library %ld", c->zone,
		    (long long)t, mine, libc);
	if (!format || !c->formats)
		return;
	libc_rfc3339(t, want, sizeof(want));
	tz_format_rfc3339(t, got, sizeof(got));
	cr_assert_str_eq(got, want, "%s at %lld", c->zone, (long long)t);
}

/* The first second in (a, b] at which offset() gives what it gives at b. */
static int64_t
change_in(long (*offset)(struct compare *, int64_t), struct compare *c,
    int64_t a, int64_t b)
{
	long last = offset(c, b);

	while (b - a > 1) {
		int64_t mid = a + (b - a) / 2;

		if (offset(c, mid) == last)
			b = mid;
		else
			a = mid;
	}
	return b;
}

static long
ours(struct compare *c, int64_t t)
{
	return tzfile_offset(c->z, t);
}

static long
theirs(struct compare *c, int64_t t)
{
	(void)c;
	return libc_offset(t);
}

/*
 * Both agree at every step from..to, and on either side of each change
 * found between two steps, by bisection under each of them.  Steps of a
 * day and an hour less a second fall at every time of day in turn.
 */
static void
agree_over(struct compare *c, int64_t from, int64_t to, int64_t step)
{
	int64_t t, prev = from, ch;
	long before = libc_offset(from);
	unsigned n = 0;

	agree_at(c, from, 1);
	for (t = from + step; t <= to; prev = t, t += step) {
		long now = libc_offset(t);

		agree_at(c, t, ++n % 97 == 0);
		if (now == before)
			continue;
		ch = change_in(theirs, c, prev, t);
		agree_at(c, ch - 1, 1);
		agree_at(c, ch, 1);
		ch = change_in(ours, c, prev, t);
		agree_at(c, ch - 1, 0);
		agree_at(c, ch, 0);
		before = now;
	}
}

static int64_t
at(int y, int m, int d, int h, int min)
{
	return tz_days_from_civil(y, m, d) * SECONDS_PER_DAY + h * 3600 +
	    min * 60;
}

/* zone, read by tzfile_read and kept by tz_use, against the C library. */
static void
compare_zone(const char *zone)
{
	char path[512];
	struct compare c = { zone, NULL, 0 };
	struct tzfile *z;
	int y;

	snprintf(path, sizeof(path), "%s/%s", ZONEINFO, zone);
	z = tzfile_read(path);
	cr_assert_not_null(z, "%s", zone);
	c.z = z;
	c.formats = tz_use(zone) == 0;
	cr_assert(c.formats, "tz_use(%s)", zone);
	setenv("TZ", zone, 1);
	tzset();
	agree_over(&c, at(1900, 1, 1, 0, 0), at(2038, 1, 1, 0, 0),
	    SECONDS_PER_DAY + 3599);
	/* From 2038 the footer's rules: changes months apart, and the C
	 * library slow to work them out.  Far ahead too. */
	agree_over(&c, at(2038, 1, 1, 0, 0), at(2100, 1, 1, 0, 0),
	    5 * SECONDS_PER_DAY + 3599);
	agree_over(&c, at(2400, 1, 1, 0, 0), at(2401, 1, 1, 0, 0),
	    5 * SECONDS_PER_DAY + 3599);
	agree_over(&c, at(9999, 1, 1, 0, 0), at(9999, 12, 30, 0, 0),
	    5 * SECONDS_PER_DAY + 3599);
	/* Before the first change. */
	for (y = 1; y < 1900; y += 97)
		agree_at(&c, at(y, 1 + y % 12, 2, y % 24, y % 60), 1);
	tzfile_free(z);
}

/* A zone's name, in memory the test processes share. */
struct zone_param {
	char	name[64];
};

static void
zone_params_free(struct criterion_test_params *p)
{
	cr_free(p->params);
}

/* The zones of tzdata.zi ("Z name ..." and links "L target name"), up to
 * cap of them. */
static size_t
zone_names(struct zone_param *names, size_t cap)
{
	FILE *f = fopen(ZONEINFO "/tzdata.zi", "re");
	char line[512], name[64], target[64];
	size_t n = 0;

	while (f != NULL && n < cap && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Z %63s", name) == 1 ||
		    sscanf(line, "L %63s %63s", target, name) == 2)
			memcpy(names[n++].name, name, sizeof(name));
	}
	if (f != NULL)
		fclose(f);
	return n;
}

ParameterizedTestParameters(tzfile, zone_agrees_with_the_c_library)
{
	struct zone_param *names = cr_calloc(1024, sizeof(*names));
	size_t n = zone_names(names, 1024);

	return cr_make_param_array(struct zone_param, names, n,
	    zone_params_free);
}

/* One process a zone: the C library's lookups slow down with each zone
 * it has read (it keeps every abbreviation in one list). */
ParameterizedTest(struct zone_param *p, tzfile, zone_agrees_with_the_c_library)
{
	compare_zone(p->name);
}

Test(tzfile, the_database_is_all_there)
{
	struct zone_param *names = calloc(1024, sizeof(*names));
	size_t n = zone_names(names, 1024);

	free(names);
	cr_assert_gt(n, 500, "%zu zones in %s/tzdata.zi", n, ZONEINFO);
	cr_assert_lt(n, 1024);
}

/* POSIX TZ strings, of zones and made up, against the C library given
 * each as TZ, from 1971 to 2100 (the C library has the rules of a TZ
 * string start from 1970 whatever the year). */
Test(tzfile, posix_strings_agree_with_the_c_library, .timeout = 120)
{
	static const char *const tz[] = {
		"<-03>3", "UTC0", "<+0530>-5:30", "<-0930>9:30",
		"EST5EDT,M3.2.0,M11.1.0",
		"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",	/* Lord_Howe */
		"<-04>4<-03>,M9.1.6/24,M4.1.6/24",	/* Santiago */
		"<-02>2<-01>,M3.5.0/-1,M10.5.0/0",	/* Nuuk */
		"IST-2IDT,M3.4.4/26,M10.5.0",		/* Jerusalem */
		"EET-2EEST,M3.4.4/50,M10.4.4/50",	/* Gaza */
		"IST-1GMT0,M10.5.0,M3.5.0/1",		/* Dublin */
		"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
		"<+00>0<+02>-2,M3.5.0/1,M10.5.0/3",	/* Troll */
		"AAA3BBB,J60/2,J300/2", "AAA3BBB,59/2,299/2",
		"AAA-3BBB-4:30:15,J2/0,J364/23:59:59",
		"AAA3BBB,M2.5.0/-1:30:20,M12.4.6/25",
		"AAA3BBB,M1.2.0/-25,M12.3.0/49",
		"AAA+3BBB,M3.2.0/+2,M11.1.0/+2",
	};
	struct compare c = { NULL, NULL, 0 };
	struct tzfile *z;
	size_t i;

	for (i = 0; i < sizeof(tz) / sizeof(tz[0]); i++) {
		z = tzfile_posix(tz[i]);
		cr_assert_not_null(z, "%s", tz[i]);
		c.zone = tz[i];
		c.z = z;
		setenv("TZ", tz[i], 1);
		tzset();
		agree_over(&c, at(1971, 1, 1, 0, 0), at(2100, 1, 1, 0, 0),
		    3 * SECONDS_PER_DAY + 3599);
		tzfile_free(z);
	}
	unsetenv("TZ");
}

static long
offset_at(const char *tz, int64_t t)
{
	struct tzfile *z = tzfile_posix(tz);
	long off;

	cr_assert_not_null(z, "%s", tz);
	off = tzfile_offset(z, t);
	tzfile_free(z);
	return off;
}

/* The offset of tz changes from before to after at UTC second t. */
static void
changes_at(const char *tz, int64_t t, long before, long after)
{
	cr_assert_eq(offset_at(tz, t - 1), before, "%s before %lld", tz,
	    (long long)t);
	cr_assert_eq(offset_at(tz, t), after, "%s at %lld", tz, (long long)t);
}

/* Changes worked out by hand, UTC. */
Test(tzfile, posix_changes_by_hand)
{
	const char *lord_howe = "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0";
	const char *santiago = "<-04>4<-03>,M9.1.6/24,M4.1.6/24";
	const char *nuuk = "<-02>2<-01>,M3.5.0/-1,M10.5.0/0";

	/* 2027-10-03 02:00 +10:30 on to 02:30 +11; 2027-04-04 02:00 +11
	 * back to 01:30 +10:30: half an hour each. */
	changes_at(lord_howe, at(2027, 10, 2, 15, 30), 37800, 39600);
	changes_at(lord_howe, at(2027, 4, 3, 15, 0), 39600, 37800);
	/* The first Saturday's 24:00: 2027-09-04 24:00 -04 on to
	 * 2027-09-05 01:00 -03; 2027-04-03 24:00 -03 back to 23:00 -04. */
	changes_at(santiago, at(2027, 9, 5, 4, 0), -14400, -10800);
	changes_at(santiago, at(2027, 4, 4, 3, 0), -10800, -14400);
	/* -1:00 of the last Sunday of March 2027 (the 28th), in -02; 0:00
	 * of the last Sunday of October, in -01: both 01:00 UTC. */
	changes_at(nuuk, at(2027, 3, 28, 1, 0), -7200, -3600);
	changes_at(nuuk, at(2027, 10, 31, 1, 0), -3600, -7200);
	/* 26:00 of the fourth Thursday of March 2027 (the 25th), in +02. */
	changes_at("IST-2IDT,M3.4.4/26,M10.5.0", at(2027, 3, 26, 0, 0), 7200,
	    10800);
	/* Jn leaves out February 29, n counts it from 0. */
	changes_at("AAA0BBB,J60/0,J300/0", at(2028, 3, 1, 0, 0), 0, 3600);
	changes_at("AAA0BBB,59/0,300/0", at(2028, 2, 29, 0, 0), 0, 3600);
	changes_at("AAA0BBB,59/0,300/0", at(2027, 3, 1, 0, 0), 0, 3600);
	/* Summer ends at 25:00 of the last Saturday of December: 1977-12-31
	 * is one, so that it ends in 1978 (03:00 UTC), not in 1977. */
	changes_at("AAA3BBB,M2.5.0,M12.5.6/25", at(1978, 1, 1, 3, 0), -7200,
	    -10800);
	/* The seconds of an offset, and a time of the day with seconds. */
	changes_at("AAA-3BBB-4:30:15,M3.2.0/1:02:03,M11.1.0", at(2027, 3, 13,
	    22, 2) + 3, 10800, 16215);
}

/* Daylight time all year (RFC 8536 section 3.3.1), a summer across the
 * new year, and the rules a string without any takes. */
Test(tzfile, posix_whole_years)
{
	int64_t t;

	for (t = at(2025, 12, 20, 0, 0); t < at(2027, 1, 10, 0, 0); t += 3599)
		cr_assert_eq(offset_at("EST5EDT,0/0,J365/25", t), -4 * 3600,
		    "%lld", (long long)t);
	cr_assert_eq(offset_at("AEST-10AEDT,M10.1.0,M4.1.0/3",
	    at(2026, 12, 31, 23, 0)), 11 * 3600);
	cr_assert_eq(offset_at("AEST-10AEDT,M10.1.0,M4.1.0/3",
	    at(2027, 1, 1, 0, 0)), 11 * 3600);
	cr_assert_eq(offset_at("AEST-10AEDT,M10.1.0,M4.1.0/3",
	    at(2027, 6, 1, 0, 0)), 10 * 3600);
	for (t = at(2026, 1, 1, 0, 0); t < at(2028, 1, 1, 0, 0); t += 3599) {
		cr_assert_eq(offset_at("AAA5BBB", t),
		    offset_at("AAA5BBB,M3.2.0,M11.1.0", t));
		cr_assert_eq(offset_at("AAA3BBB2", t),
		    offset_at("AAA3BBB2,M3.2.0,M11.1.0", t));
	}
	cr_assert_eq(offset_at("AAA3BBB2", at(2027, 7, 1, 0, 0)), -7200);
	cr_assert_eq(offset_at("AAA5BBB", at(2027, 7, 1, 0, 0)), -4 * 3600);
}

Test(tzfile, posix_strings_refused)
{
	static const char *const bad[] = {
		"", "UTC", "AB5", "<AB>5", "<-03", "<-0 3>3", "EST5:60",
		"EST25", "EST5:00:60", "EST5EDT,", "EST5EDT,M3.2.0",
		"EST5EDT,M3.2.0,M11.1.0,", "EST5EDT,M13.1.0,M11.1.0",
		"EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.0.0,M11.1.0",
		"EST5EDT,M3.2.7,M11.1.0", "EST5EDT,M3.2,M11.1.0",
		"EST5EDT,J0,J365", "EST5EDT,J366,J1", "EST5EDT,366,0",
		"EST5EDT,M3.2.0/168,M11.1.0", "EST5EDT,M3.2.0/-168,M11.1.0",
		"EST5EDT,M3.2.0/,M11.1.0", "EST5ED,M3.2.0,M11.1.0",
		"EST5EDT4x", "EST 5", "EST5EDT,M3.2.0/2:,M11.1.0",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_null(tzfile_posix(bad[i]), "\"%s\"", bad[i]);
	parsed(tzfile_posix("EST5EDT,M3.2.0/167,M11.1.0/-167"));
	parsed(tzfile_posix("<A+1>-1<B-2>2,J1,J2"));
}

/* A TZif file being made. */
struct tzif {
	unsigned char	buf[4096];
	size_t		len;
};

static void
put(struct tzif *f, uint64_t v, int bytes)
{
	while (bytes-- > 0)
		f->buf[f->len++] = (unsigned char)(v >> (bytes * 8));
}

/* A header and data block with times of tsize bytes: n transitions at
 * at[] to the types idx[] of the offsets off[] (standard time, "ABC"). */
static void
tzif_block(struct tzif *f, int version, int tsize, size_t n,
    const int64_t *at, const unsigned char *idx, size_t ntypes,
    const int32_t *off)
{
	size_t i;

	memcpy(f->buf + f->len, "TZif", 4);
	f->len += 4;
	put(f, (uint64_t)version, 1);
	memset(f->buf + f->len, 0, 15);
	f->len += 15;
	put(f, 0, 4);				/* isut */
	put(f, 0, 4);				/* isstd */
	put(f, 0, 4);				/* leap */
	put(f, n, 4);
	put(f, ntypes, 4);
	put(f, 4, 4);				/* chars */
	for (i = 0; i < n; i++)
		put(f, (uint64_t)at[i], tsize);
	for (i = 0; i < n; i++)
		put(f, idx[i], 1);
	for (i = 0; i < ntypes; i++) {
		put(f, (uint32_t)off[i], 4);
		put(f, 0, 1);
		put(f, 0, 1);
	}
	memcpy(f->buf + f->len, "ABC", 4);
	f->len += 4;
}

/* A whole file: version '\0' has the 32-bit block alone; later ones a
 * block of no transitions there (as zic -b slim writes), then the 64-bit
 * one and the footer. */
static struct tzfile *
tzif(int version, size_t n, const int64_t *at, const unsigned char *idx,
    size_t ntypes, const int32_t *off, const char *footer)
{
	struct tzif f = { .len = 0 };

	if (version == '\0') {
		tzif_block(&f, version, 4, n, at, idx, ntypes, off);
		return tzfile_parse(f.buf, f.len);
	}
	tzif_block(&f, version, 4, 0, NULL, NULL, 1, off);
	tzif_block(&f, version, 8, n, at, idx, ntypes, off);
	f.len += (size_t)snprintf((char *)f.buf + f.len, 256, "\n%s\n",
	    footer);
	return tzfile_parse(f.buf, f.len);
}

Test(tzfile, versions_1_2_3)
{
	const int64_t ch[] = { INT32_MIN, 0, 86400 };
	const unsigned char idx[] = { 1, 2, 1 };
	const int32_t off[] = { 1234, 3600, 7200 };
	struct tzfile *z;

	/* Version 1: the last offset holds for ever. */
	z = tzif('\0', 3, ch, idx, 3, off, NULL);
	cr_assert_not_null(z);
	cr_assert_eq(tzfile_offset(z, (int64_t)INT32_MIN - 1), 1234);
	cr_assert_eq(tzfile_offset(z, INT32_MIN), 3600);
	cr_assert_eq(tzfile_offset(z, -1), 3600);
	cr_assert_eq(tzfile_offset(z, 0), 7200);
	cr_assert_eq(tzfile_offset(z, 86399), 7200);
	cr_assert_eq(tzfile_offset(z, 86400), 3600);
	cr_assert_eq(tzfile_offset(z, at(9999, 1, 1, 0, 0)), 3600);
	tzfile_free(z);
	/* Version 2: the footer from the last transition on; an empty one
	 * keeps the last offset. */
	z = tzif('2', 3, ch, idx, 3, off, "<+05>-5");
	cr_assert_not_null(z);
	cr_assert_eq(tzfile_offset(z, 86399), 7200);
	cr_assert_eq(tzfile_offset(z, 86400), 5 * 3600);
	tzfile_free(z);
	z = tzif('2', 3, ch, idx, 3, off, "");
	cr_assert_not_null(z);
	cr_assert_eq(tzfile_offset(z, at(2400, 1, 1, 0, 0)), 3600);
	tzfile_free(z);
	/* Version 3, no transition: the footer always, with its times of
	 * -1:00; version 4 read alike. */
	z = tzif('3', 0, NULL, NULL, 1, off, "<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
	cr_assert_not_null(z);
	cr_assert_eq(tzfile_offset(z, at(1800, 1, 1, 0, 0)), -7200);
	cr_assert_eq(tzfile_offset(z, at(2027, 3, 28, 1, 0)), -3600);
	tzfile_free(z);
	z = tzif('4', 0, NULL, NULL, 1, off, "<+05>-5");
	cr_assert_not_null(z);
	cr_assert_eq(tzfile_offset(z, 0), 5 * 3600);
	tzfile_free(z);
}

Test(tzfile, broken_files_refused)
{
	const int64_t ch[] = { 0, 86400 }, back[] = { 86400, 0 };
	const unsigned char idx[] = { 0, 1 }, far[] = { 0, 2 };
	const int32_t off[] = { 3600, 7200 }, min[] = { INT32_MIN, 0 };
	unsigned char buf[8192];
	struct tzif f = { .len = 0 };
	size_t len, cut;
	FILE *fp;

	cr_assert_null(tzif('2', 2, back, idx, 2, off, ""));
	cr_assert_null(tzif('2', 2, ch, far, 2, off, ""));
	cr_assert_null(tzif('2', 2, ch, idx, 2, min, ""));
	cr_assert_null(tzif('2', 2, ch, idx, 0, off, ""));
	cr_assert_null(tzif('1', 2, ch, idx, 2, off, ""));
	cr_assert_null(tzif('2', 2, ch, idx, 2, off, "EST5EDT,M3.2.0"));
	cr_assert_null(tzif('2', 2, ch, idx, 2, off, "EST5\nEDT"));
	parsed(tzif('2', 2, ch, idx, 2, off, "EST5"));
	tzif_block(&f, '\0', 4, 2, ch, idx, 2, off);
	memcpy(f.buf, "TZix", 4);
	cr_assert_null(tzfile_parse(f.buf, f.len));
	cr_assert_null(tzfile_read(ZONEINFO "/zone.tab"));
	cr_assert_null(tzfile_read(ZONEINFO "/Europe"));
	cr_assert_null(tzfile_read(ZONEINFO "/Nowhere"));
	/* Every file cut short: the footer's last newline is the end. */
	fp = fopen(ZONEINFO "/Europe/Berlin", "re");
	cr_assert_not_null(fp);
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	parsed(tzfile_parse(buf, len));
	for (cut = 0; cut < len; cut++)
		cr_assert_null(tzfile_parse(buf, cut), "%zu bytes of %zu", cut,
		    len);
}

/* Each zone has its own days: Berlin's midnight is 8 hours after
 * Tokyo's in winter, whichever was asked first and however often. */
Test(tz, day_starts_kept_per_zone)
{
	int64_t day = tz_days_from_civil(2027, 1, 15), berlin, tokyo;
	int i;

	cr_assert_eq(tz_use("Europe/Berlin"), 0);
	berlin = tz_day_start(day);
	cr_assert_eq(berlin, day * SECONDS_PER_DAY - 3600);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(tz_use("Asia/Tokyo"), 0);
		tokyo = tz_day_start(day);
		cr_assert_eq(tokyo, day * SECONDS_PER_DAY - 9 * 3600);
		cr_assert_eq(tz_use("Europe/Berlin"), 0);
		cr_assert_eq(tz_day_start(day), berlin);
	}
}

/*
 * More zones than are kept: 1,100 names in a zone directory of links,
 * alternately to Berlin and to Tokyo.  Those past the cap are read
 * again at each use, and still give their own answers, day starts too.
 */
Test(tz, zones_past_the_cap)
{
	char dir[] = "/tmp/slotd-tz-XXXXXX", path[128], name[16];
	int64_t day = tz_days_from_civil(2027, 1, 15);
	int i, round;

	cr_assert_not_null(mkdtemp(dir));
	for (i = 0; i < 1100; i++) {
		snprintf(path, sizeof(path), "%s/Z%04d", dir, i);
		cr_assert_eq(symlink(i % 2 ? ZONEINFO "/Asia/Tokyo" :
		    ZONEINFO "/Europe/Berlin", path), 0);
	}
	setenv("TZDIR", dir, 1);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 1100; i++) {
			snprintf(name, sizeof(name), "Z%04d", i);
			cr_assert(tz_valid_name(name), "%s", name);
			cr_assert_eq(tz_use(name), 0, "%s", name);
			cr_assert_eq(tz_day_start(day), day * SECONDS_PER_DAY -
			    (i % 2 ? 9 : 1) * 3600, "%s", name);
		}
	}
	cr_assert_eq(tz_use("Z0000"), 0);
	cr_assert_eq(tz_day_start(day), day * SECONDS_PER_DAY - 3600);
	for (i = 0; i < 1100; i++) {
		snprintf(path, sizeof(path), "%s/Z%04d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	unsetenv("TZDIR");
}
