/*
 * tzfile: compiled time zones (TZif, RFC 8536, versions 1 to 3) read into
 * memory, with the POSIX TZ rule of their footer for the instants after
 * the last transition, so that a zone's offset at any instant takes
 * neither the C library nor a system call.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slotd.h"

#define TZFILE_SIZE_MAX		(256 * 1024)	/* the largest zone: 4 kB */
#define TZFILE_HEAD		44		/* a header's bytes */
#define TZFILE_TYPE		6		/* a local time type's bytes */
#define TZFILE_RULE_MAX		256		/* a footer's bytes */

/* A change of a POSIX TZ rule: a day of the year and a local time. */
struct tzfile_rule {
	char	 kind;		/* 'J': Jn; 'D': n; 'M': Mm.w.d */
	int	 day;		/* J: 1..365, no Feb 29; D: 0..365; M: 0..6 */
	int	 week;		/* M: 1..5, 5 the last of the month */
	int	 month;		/* M: 1..12 */
	int32_t	 secs;		/* the local time of the change */
};

/* A POSIX TZ string: offsets east of UTC, in seconds. */
struct tzfile_posix {
	int32_t			 std;
	int32_t			 dst;
	int			 has_dst;
	struct tzfile_rule	 start;		/* to dst, at a std time */
	struct tzfile_rule	 end;		/* back, at a dst time */
};

struct tzfile {
	size_t			 n;		/* transitions */
	int64_t			*at;		/* their instants, ascending */
	int32_t			*off;		/* the offset from each on */
	int32_t			 first;		/* the offset before the first */
	int			 has_rule;	/* from the last on (or always) */
	struct tzfile_posix	 rule;
};

/* The counts of a TZif header. */
struct tzfile_head {
	int		 version;	/* '\0' for 1, then '2', '3'... */
	uint32_t	 isut, isstd, leap, times, types, chars;
};

static uint32_t
tzfile_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int64_t
tzfile_be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)tzfile_be32(p) << 32 | tzfile_be32(p + 4));
}

/* The character c at *s, moving *s past it. */
static int
tzfile_char(const char **s, char c)
{
	if (**s != c)
		return -1;
	(*s)++;
	return 0;
}

/* A decimal number of min..max at *s, moving *s past it. */
static int
tzfile_num(const char **s, int min, int max, int *v)
{
	const char *p = *s;

	if (*p < '0' || *p > '9')
		return -1;
	for (*v = 0; *p >= '0' && *p <= '9'; p++)
		if ((*v = *v * 10 + (*p - '0')) > max)
			return -1;
	if (*v < min)
		return -1;
	*s = p;
	return 0;
}

/* [+-]hh[:mm[:ss]] at *s with hours up to max, as seconds. */
static int
tzfile_secs(const char **s, int max, int32_t *secs)
{
	const char *p = *s;
	int sign = 1, h, m = 0, sec = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (tzfile_num(&p, 0, max, &h) == -1)
		return -1;
	if (tzfile_char(&p, ':') == 0 && (tzfile_num(&p, 0, 59, &m) == -1 ||
	    (tzfile_char(&p, ':') == 0 && tzfile_num(&p, 0, 59, &sec) == -1)))
		return -1;
	*secs = sign * (h * 3600 + m * 60 + sec);
	*s = p;
	return 0;
}

static int
tzfile_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* An abbreviation at *s: three letters or more, or <...> of three or more
 * letters, digits, '+' and '-'.  Its letters are not kept. */
static int
tzfile_name(const char **s)
{
	const char *p = *s;

	if (*p == '<') {
		for (p++; tzfile_alpha(*p) || (*p >= '0' && *p <= '9') ||
		    *p == '+' || *p == '-'; p++)
			;
		if (*p != '>' || p - *s < 4)
			return -1;
		*s = p + 1;
		return 0;
	}
	while (tzfile_alpha(*p))
		p++;
	if (p - *s < 3)
		return -1;
	*s = p;
	return 0;
}

/* Jn, n or Mm.w.d, then /time (from -167 to 167 hours, RFC 8536 section
 * 3.3.1; 02:00 when there is none). */
static int
tzfile_rule(const char **s, struct tzfile_rule *r)
{
	const char *p = *s;

	memset(r, 0, sizeof(*r));
	if (*p == 'J') {
		p++;
		r->kind = 'J';
		if (tzfile_num(&p, 1, 365, &r->day) == -1)
			return -1;
	} else if (*p == 'M') {
		p++;
		r->kind = 'M';
		if (tzfile_num(&p, 1, 12, &r->month) == -1 ||
		    tzfile_char(&p, '.') == -1 ||
		    tzfile_num(&p, 1, 5, &r->week) == -1 ||
		    tzfile_char(&p, '.') == -1 ||
		    tzfile_num(&p, 0, 6, &r->day) == -1)
			return -1;
	} else {
		r->kind = 'D';
		if (tzfile_num(&p, 0, 365, &r->day) == -1)
			return -1;
	}
	r->secs = 2 * 3600;
	if (tzfile_char(&p, '/') == 0 && tzfile_secs(&p, 167, &r->secs) == -1)
		return -1;
	*s = p;
	return 0;
}

/* A POSIX TZ string: std offset [dst [offset] [,start[/time],end[/time]]]. */
static int
tzfile_posix_parse(const char *s, struct tzfile_posix *pz)
{
	int32_t off;

	memset(pz, 0, sizeof(*pz));
	if (tzfile_name(&s) == -1 || tzfile_secs(&s, 24, &off) == -1)
		return -1;
	pz->std = -off;			/* POSIX counts west of UTC */
	if (*s == '\0')
		return 0;
	if (tzfile_name(&s) == -1)
		return -1;
	pz->has_dst = 1;
	pz->dst = pz->std + 3600;
	if (*s != ',' && *s != '\0') {
		if (tzfile_secs(&s, 24, &off) == -1)
			return -1;
		pz->dst = -off;
	}
	/* POSIX leaves a missing rule to the system: the US one, as in
	 * tzcode.  Zone files always write theirs. */
	if (*s == '\0')
		s = ",M3.2.0,M11.1.0";
	if (tzfile_char(&s, ',') == -1 || tzfile_rule(&s, &pz->start) == -1 ||
	    tzfile_char(&s, ',') == -1 || tzfile_rule(&s, &pz->end) == -1 ||
	    *s != '\0')
		return -1;
	return 0;
}

/* The day on which rule r falls in year y. */
static int64_t
tzfile_rule_day(const struct tzfile_rule *r, int y)
{
	int64_t first;

	if (r->kind == 'J')
		return tz_days_from_civil(y, 1, 1) + r->day - 1 +
		    (r->day >= 60 && tz_days_in_month(y, 2) == 29);
	if (r->kind == 'D')
		return tz_days_from_civil(y, 1, 1) + r->day;
	first = tz_days_from_civil(y, r->month, 1) +
	    (r->day - tz_weekday(tz_days_from_civil(y, r->month, 1)) + 7) % 7 +
	    (r->week - 1) * 7;
	if (r->week == 5 &&
	    first >= tz_days_from_civil(y, r->month, 1) +
	    tz_days_in_month(y, r->month))
		first -= 7;
	return first;
}

/*
 * The offset of rule pz at UTC second t.  The changes of the years around
 * t's are put in order and the last one at or before t holds: rule times
 * may pass the end of a day or of a year, and a southern zone's summer
 * spans the new year.  Changes at the same instant keep their year's
 * order, so that "0/0,J365/25" is daylight time all year.
 */
static int32_t
tzfile_rule_offset(const struct tzfile_posix *pz, int64_t t)
{
	struct {
		int64_t	 at;
		int32_t	 off;
	} ch[8], c;
	int32_t off = pz->std;
	int y, m, d, year;
	size_t i, j, n = 0;

	if (!pz->has_dst)
		return pz->std;
	tz_civil_from_days(tz_day_of(t + pz->std), &y, &m, &d);
	/* Times up to 167 hours reach a week into the next year, so that
	 * the changes of y - 2 are all before t, those of y + 2 after. */
	for (year = y - 2; year <= y + 1; year++) {
		ch[n].at = tzfile_rule_day(&pz->start, year) * SECONDS_PER_DAY +
		    pz->start.secs - pz->std;
		ch[n++].off = pz->dst;
		ch[n].at = tzfile_rule_day(&pz->end, year) * SECONDS_PER_DAY +
		    pz->end.secs - pz->dst;
		ch[n++].off = pz->std;
	}
	for (i = 1; i < n; i++) {
		c = ch[i];
		for (j = i; j > 0 && ch[j - 1].at > c.at; j--)
			ch[j] = ch[j - 1];
		ch[j] = c;
	}
	for (i = 0; i < n && ch[i].at <= t; i++)
		off = ch[i].off;
	return off;
}

/* The header at p, its version and counts, and the bytes of the data
 * block after it, whose times have tsize bytes. */
static int
tzfile_head(const unsigned char *p, size_t len, size_t tsize,
    struct tzfile_head *h, size_t *size)
{
	if (len < TZFILE_HEAD || memcmp(p, "TZif", 4) != 0)
		return -1;
	h->version = p[4];
	h->isut = tzfile_be32(p + 20);
	h->isstd = tzfile_be32(p + 24);
	h->leap = tzfile_be32(p + 28);
	h->times = tzfile_be32(p + 32);
	h->types = tzfile_be32(p + 36);
	h->chars = tzfile_be32(p + 40);
	if ((h->version != '\0' && h->version < '2') || h->types == 0 ||
	    h->types > 256 || h->chars == 0 ||
	    (h->isut != 0 && h->isut != h->types) ||
	    (h->isstd != 0 && h->isstd != h->types) ||
	    h->times > len || h->leap > len || h->chars > len)
		return -1;
	*size = h->times * (tsize + 1) + h->types * TZFILE_TYPE + h->chars +
	    h->leap * (tsize + 4) + h->isstd + h->isut;
	return *size <= len - TZFILE_HEAD ? 0 : -1;
}

/* The zone of a data block, whose times have tsize bytes, with its
 * footer's rule (NULL: none). */
static struct tzfile *
tzfile_block(const unsigned char *p, const struct tzfile_head *h,
    size_t tsize, const struct tzfile_posix *rule)
{
	const unsigned char *idx = p + h->times * tsize;
	const unsigned char *type = idx + h->times;
	int32_t off[256];
	struct tzfile *z;
	size_t i;

	for (i = 0; i < h->types; i++) {
		off[i] = (int32_t)tzfile_be32(type + i * TZFILE_TYPE);
		if (off[i] == INT32_MIN || type[i * TZFILE_TYPE + 4] > 1 ||
		    type[i * TZFILE_TYPE + 5] >= h->chars)
			return NULL;
	}
	z = xcalloc(1, sizeof(*z) +
	    h->times * (sizeof(*z->at) + sizeof(*z->off)));
	z->n = h->times;
	z->at = (int64_t *)(z + 1);
	z->off = (int32_t *)(z->at + z->n);
	z->first = off[0];
	for (i = 0; i < z->n; i++) {
		z->at[i] = tsize == 8 ? tzfile_be64(p + i * 8) :
		    (int32_t)tzfile_be32(p + i * 4);
		if (idx[i] >= h->types || (i > 0 && z->at[i] <= z->at[i - 1])) {
			free(z);
			return NULL;
		}
		z->off[i] = off[idx[i]];
	}
	if (rule != NULL) {
		z->has_rule = 1;
		z->rule = *rule;
	}
	return z;
}

/*
 * The zone of a TZif file's bytes; NULL when they are not one.  A version
 * 1 file has 32-bit times and no footer: its last offset holds for ever.
 * Later versions repeat the data with 64-bit times, which are read, then
 * end with a footer "\n<POSIX TZ string>\n" whose rule holds from the
 * last transition on (and always, when there is none).  Leap seconds are not
 * applied: tz.c refuses the right/ zones that have them.
 */
struct tzfile *
tzfile_parse(const unsigned char *p, size_t len)
{
	struct tzfile_posix rule;
	struct tzfile_head h;
	char tz[TZFILE_RULE_MAX];
	const unsigned char *nl, *end;
	size_t size;

	if (tzfile_head(p, len, 4, &h, &size) == -1)
		return NULL;
	if (h.version == '\0')
		return tzfile_block(p + TZFILE_HEAD, &h, 4, NULL);
	p += TZFILE_HEAD + size;
	len -= TZFILE_HEAD + size;
	if (tzfile_head(p, len, 8, &h, &size) == -1)
		return NULL;
	len -= TZFILE_HEAD + size;
	nl = p + TZFILE_HEAD + size;
	if (len < 2 || nl[0] != '\n' ||
	    (end = memchr(nl + 1, '\n', len - 1)) != nl + len - 1 ||
	    (size = (size_t)(end - nl - 1)) >= sizeof(tz) ||
	    memchr(nl + 1, '\0', size) != NULL)
		return NULL;
	memcpy(tz, nl + 1, size);
	tz[size] = '\0';
	if (size == 0)
		return tzfile_block(p + TZFILE_HEAD, &h, 8, NULL);
	if (tzfile_posix_parse(tz, &rule) == -1)
		return NULL;
	return tzfile_block(p + TZFILE_HEAD, &h, 8, &rule);
}

/* A zone of no transitions that follows the POSIX TZ string s. */
struct tzfile *
tzfile_posix(const char *s)
{
	struct tzfile_posix rule;
	struct tzfile *z;

	if (tzfile_posix_parse(s, &rule) == -1)
		return NULL;
	z = xcalloc(1, sizeof(*z));
	z->has_rule = 1;
	z->rule = rule;
	return z;
}

/*
 * The compiled zone at path; NULL when it is no regular file or no TZif
 * file (the zone directory also holds text files: zone.tab, leapseconds).
 * Opened without blocking, so that a FIFO there cannot hang the caller.
 */
struct tzfile *
tzfile_read(const char *path)
{
	struct tzfile *z;
	struct stat st;
	unsigned char *buf;
	size_t len = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > TZFILE_SIZE_MAX) {
		close(fd);
		return NULL;
	}
	buf = xcalloc(1, (size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		if ((r = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
			len += (size_t)r;
		else if (r == 0 || errno != EINTR)
			break;
	}
	close(fd);
	z = tzfile_parse(buf, len);
	free(buf);
	return z;
}

/* The offset east of UTC, in seconds, of zone z at UTC second t. */
long
tzfile_offset(const struct tzfile *z, int64_t t)
{
	size_t lo = 0, hi = z->n, mid;

	if (z->n == 0)
		return z->has_rule ? tzfile_rule_offset(&z->rule, t) : z->first;
	if (t < z->at[0])
		return z->first;
	if (z->has_rule && t >= z->at[z->n - 1])
		return tzfile_rule_offset(&z->rule, t);
	/* at[lo] <= t < at[hi] (or hi == n) */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->off[lo];
}

void
tzfile_free(struct tzfile *z)
{
	free(z);
}
