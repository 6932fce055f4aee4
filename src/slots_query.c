/*
 * slots_query: the parameters of GET /slots (API.md, "Slots"), declared
 * once in a table: how each is read into a slots_query, and how it is
 * written into the answer's key, which names every input of the answer's
 * body, so that two queries with equal keys get equal bytes and two
 * different ones never share a key (nor an ETag, which carries it).
 */
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

#define SLOTS_MAX_DAYS		31	/* also in the days message */
#define SLOTS_MAX_LIMIT		1000	/* also in the limit message */

static int
refuse(const char **code, char *detail, size_t len, const char *c,
    const char *fmt, const char *arg)
{
	*code = c;
	snprintf(detail, len, fmt, arg);
	return -1;
}

struct slots_key {
	char	*buf;
	size_t	 len;
	size_t	 off;
	int	 overflow;
};

struct slots_param {
	const char	*name;
	int		(*parse)(const char *, struct slots_query *,
			    const char **, char *, size_t);
	void		(*key)(const struct slots_query *, struct slots_key *);
};

/* The key and the ETag are written on every read: without printf. */
static void
key_bytes(struct slots_key *k, const char *s, size_t n)
{
	if (k->off + n >= k->len) {
		k->overflow = 1;
		return;
	}
	memcpy(k->buf + k->off, s, n);
	k->off += n;
	k->buf[k->off] = '\0';
}

static void
key_str(struct slots_key *k, const char *s)
{
	key_bytes(k, s, strlen(s));
}

/* v in base (10 or 16), at least width digits. */
static void
key_num(struct slots_key *k, unsigned long long v, unsigned base, int width)
{
	char digits[24];
	int n = 0;

	do {
		digits[sizeof(digits) - ++n] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v != 0 || n < width);
	key_bytes(k, digits + sizeof(digits) - n, (size_t)n);
}

static int
date_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	if (tz_parse_date(v, strlen(v), &sq->day) == -1)
		return refuse(code, detail, len, "invalid-date",
		    "date must be a real date as YYYY-MM-DD%s", "");
	return 0;
}

static void
date_key(const struct slots_query *sq, struct slots_key *k)
{
	int y, m, d;

	tz_civil_from_days(sq->day, &y, &m, &d);
	key_num(k, (unsigned)y, 10, 4);
	key_str(k, "-");
	key_num(k, (unsigned)m, 10, 2);
	key_str(k, "-");
	key_num(k, (unsigned)d, 10, 2);
}

static int
days_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (v[0] < '1' || v[0] > '9' || *end != '\0' || n > SLOTS_MAX_DAYS)
		return refuse(code, detail, len, "bad-request",
		    "days must be an integer in 1..%s", "31");
	sq->days = (int)n;
	return 0;
}

static void
days_key(const struct slots_query *sq, struct slots_key *k)
{
	key_num(k, (unsigned)sq->days, 10, 1);
}

static int
available_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
		return refuse(code, detail, len, "bad-request",
		    "available must be true or false%s", "");
	sq->available = v[0] == 't';
	return 0;
}

static void
available_key(const struct slots_query *sq, struct slots_key *k)
{
	key_str(k, sq->available ? "free" : "all");
}

static int
tz_param_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	const char *why;

	if (tz_check_name(v, &why) == -1)
		return refuse(code, detail, len, "bad-request", "tz: %s", why);
	snprintf(sq->zone_buf, sizeof(sq->zone_buf), "%s", v);
	sq->zone = sq->zone_buf;
	sq->zone_given = 1;
	return 0;
}

/* Last: a zone name holds no '.' (nor ',', space or quote). */
static void
tz_param_key(const struct slots_query *sq, struct slots_key *k)
{
	key_str(k, sq->zone);
}

/* "3" or "3,5,9": up to SLOTS_MAX_CALENDARS ids, each once. */
static int
calendar_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	const char *p = v;
	char *end;
	long long id;
	int i;

	sq->ncalendars = 0;
	do {
		id = strtoll(p, &end, 10);
		if (*p < '1' || *p > '9' || end - p > 18 ||
		    (*end != ',' && *end != '\0') ||
		    sq->ncalendars == SLOTS_MAX_CALENDARS)
			return refuse(code, detail, len, "bad-request",
			    "calendar must be up to 50 calendar ids, comma "
			    "separated%s", "");
		for (i = 0; i < sq->ncalendars; i++)
			if (sq->calendars[i] == id)
				return refuse(code, detail, len, "bad-request",
				    "calendar names an id twice%s", "");
		sq->calendars[sq->ncalendars++] = id;
		p = end + 1;
	} while (*end == ',');
	sq->calendar_given = 1;
	return 0;
}

/* The ids in the order given: the first one's zone is the answer's.  No
 * calendar= ("default") is calendar 1 in the form before calendars. */
static void
calendar_key(const struct slots_query *sq, struct slots_key *k)
{
	int i;

	if (!sq->calendar_given) {
		key_str(k, "default");
		return;
	}
	for (i = 0; i < sq->ncalendars; i++) {
		if (i > 0)
			key_str(k, ",");
		key_num(k, (unsigned long long)sq->calendars[i], 10, 1);
	}
}

static int
limit_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (v[0] < '1' || v[0] > '9' || *end != '\0' || n > SLOTS_MAX_LIMIT)
		return refuse(code, detail, len, "bad-request",
		    "limit must be an integer in 1..%s", "1000");
	sq->limit = (int)n;
	return 0;
}

static void
limit_key(const struct slots_query *sq, struct slots_key *k)
{
	if (sq->limit == 0)
		key_str(k, "all");
	else
		key_num(k, (unsigned)sq->limit, 10, 1);
}

static int
format_parse(const char *v, struct slots_query *sq, const char **code,
    char *detail, size_t len)
{
	if (strcmp(v, "simple") != 0)
		return refuse(code, detail, len, "bad-request",
		    "format must be simple%s", "");
	sq->simple = 1;
	return 0;
}

/* The body's form and its media type (chosen by Accept) go together. */
static void
format_key(const struct slots_query *sq, struct slots_key *k)
{
	key_str(k, sq->simple ? "simple." : "full.");
	key_str(k, sq->msgpack ? "msgpack" : "json");
}

static const struct slots_param slots_params[] = {
	{ "date", date_parse, date_key },
	{ "days", days_parse, days_key },
	{ "available", available_parse, available_key },
	{ "format", format_parse, format_key },
	{ "calendar", calendar_parse, calendar_key },
	{ "limit", limit_parse, limit_key },
	{ "tz", tz_param_parse, tz_param_key },
};
#define SLOTS_NPARAMS	(sizeof(slots_params) / sizeof(slots_params[0]))

/* Parse and check every parameter of query (NULL: none) into sq; -1 with
 * the problem's code and detail when one is wrong.  The strings sq points
 * to live in sq itself. */
int
slots_query_check(const char *query, const char *zone,
    struct slots_query *sq, const char **code, char *detail, size_t len)
{
	char key[32], value[512];
	unsigned seen = 0;
	size_t i;
	int rc;

	memset(sq, 0, sizeof(*sq));
	sq->days = 1;
	sq->zone = zone;
	sq->calendars[0] = 1;		/* calendar 1 stands in */
	sq->ncalendars = 1;
	while (query != NULL && (rc = http_query_next(&query, key, sizeof(key),
	    value, sizeof(value))) != 0) {
		if (rc == -1)
			return refuse(code, detail, len, "bad-request",
			    "malformed query string%s", "");
		for (i = 0; i < SLOTS_NPARAMS; i++)
			if (strcmp(key, slots_params[i].name) == 0)
				break;
		if (i == SLOTS_NPARAMS)
			return refuse(code, detail, len, "bad-request",
			    "unknown query parameter '%.64s'", key);
		if (seen & (1u << i))
			return refuse(code, detail, len, "bad-request",
			    "query parameter '%s' given twice",
			    slots_params[i].name);
		seen |= 1u << i;
		if (slots_params[i].parse(value, sq, code, detail, len) == -1)
			return -1;
	}
	if ((seen & 1) == 0)
		return refuse(code, detail, len, "invalid-date",
		    "the date parameter (YYYY-MM-DD) is required%s", "");
	return 0;
}

/* The answer's key: every parameter's canonical value, joined by '.',
 * appended to k. */
static void
slots_key_put(const struct slots_query *sq, struct slots_key *k)
{
	size_t i;

	for (i = 0; i < SLOTS_NPARAMS; i++) {
		if (i > 0)
			key_str(k, ".");
		slots_params[i].key(sq, k);
	}
}

/* The ETag: "<epoch>-<changes>-<key>", hexadecimal numbers; -1 when it
 * does not fit in len. */
int
slots_query_etag(const struct slots_query *sq, uint64_t epoch,
    uint64_t changes, char *buf, size_t len)
{
	struct slots_key k = { buf, len, 0, 0 };

	key_str(&k, "\"");
	key_num(&k, epoch & 0xffffffffffULL, 16, 1);
	key_str(&k, "-");
	key_num(&k, changes, 16, 1);
	key_str(&k, "-");
	slots_key_put(sq, &k);
	key_str(&k, "\"");
	return k.overflow ? -1 : 0;
}

